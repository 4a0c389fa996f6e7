"""Memory given back between components."""
import psutil

from pipelines import memory


def _rss() -> int:
  return psutil.Process().memory_info().rss


def test_freed_heap_memory_goes_back_to_the_system():
  memory.release_memory()
  before = _rss()
  blocks = [bytearray(64 * 1024) for _ in range(8000)]  # 500 MiB in blocks the C heap (not mmap) serves
  survivors = blocks[::50]  # a few live blocks scattered through the heap, as a long run leaves them
  del blocks
  held = _rss() - before
  assert held > 400 * 2**20  # freed, but still the process's: the heap cannot shrink past live blocks
  assert memory.release_memory(collect_garbage=True)
  assert _rss() - before < 100 * 2**20
  assert len(survivors) == 160
