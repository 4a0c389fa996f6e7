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
  assert memory.release_memory()  # malloc_trim alone: the blocks were freed by `del` (no cycles to collect)
  assert _rss() - before < 100 * 2**20
  assert len(survivors) == 160


def test_imports_are_kept_out_of_later_collections():
  import gc  # pylint: disable=g-import-not-at-top
  import weakref  # pylint: disable=g-import-not-at-top

  class Node:
    def __init__(self):
      self.me = self  # a reference cycle: only the collector frees it

  gc.unfreeze()
  try:
    with memory.imports_kept_out_of_collection():
      assert not gc.isenabled()
      kept = Node()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    with memory.imports_kept_out_of_collection():  # a second run in the same process: nothing more is frozen
      garbage = Node()
    assert gc.get_freeze_count() == frozen
    garbage_ref = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert garbage_ref() is None  # the second run's garbage is still collected
    assert kept.me is kept
  finally:
    gc.unfreeze()
