"""`:explain` for `modelfab serve --explain`: integrated gradients (inference/explain.py: pixels for image models,
words for text models) behind limits of its own, so explanations, which cost about a hundred model calls each,
cannot starve `:classify` and `:predict`.

A request carries at most `max_examples` images or texts and asks for at most `max_steps` integration steps; at most
`concurrency` explanations run at once, in threads of their own (not the pool serving predictions), and a request
that would be more than `max_waiting` behind them is answered 429 at once.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Any, Dict, List

from core.errors import BadRequest, ModelfabError


@dataclasses.dataclass(frozen=True)
class ExplainLimits:
  max_examples: int = 8
  default_steps: int = 32
  max_steps: int = 64
  concurrency: int = 1
  max_waiting: int = 4


class Busy(Exception):
  """More explain requests are waiting than the limits allow (HTTP 429)."""


class ExplainService:
  """Explains examples with a served version's SavedModel; loads each version's explain signature once."""

  def __init__(self, limits: ExplainLimits = ExplainLimits()):
    self.limits = limits
    self._explainables: Dict[str, Any] = {}
    self._lock = threading.Lock()
    self._waiting = 0
    self._limiter = None  # an anyio.CapacityLimiter, made in the server's event loop

  def steps_of(self, body: Dict[str, Any]) -> int:
    steps = body.get("steps", self.limits.default_steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= self.limits.max_steps:
      raise BadRequest(f"'steps' must be a whole number from 1 to {self.limits.max_steps}, got {steps!r}")
    return steps

  def method_of(self, body: Dict[str, Any]) -> str:
    from inference import attribution  # pylint: disable=g-import-not-at-top

    method = body.get("method", attribution.INTEGRATED_GRADIENTS)
    if method not in attribution.METHODS:
      raise BadRequest(f"'method' must be one of {', '.join(attribution.METHODS)}, got {method!r}")
    return method

  def check_count(self, examples: List[bytes]) -> None:
    if len(examples) > self.limits.max_examples:
      raise BadRequest(f"at most {self.limits.max_examples} examples per :explain request, got {len(examples)}")

  async def explain(self, model_path: str, examples: List[bytes], steps: int,
                    method: str = "integrated-gradients") -> List[Dict[str, Any]]:
    """The explanation of each serialized tf.Example's image or text (as `modelfab explain --json`, without
    "input")."""
    import anyio  # pylint: disable=g-import-not-at-top

    if self._limiter is None:
      self._limiter = anyio.CapacityLimiter(self.limits.concurrency)
    with self._lock:
      if self._waiting >= self.limits.concurrency + self.limits.max_waiting:
        raise Busy(f"too many explain requests waiting (limit {self.limits.max_waiting}); retry later")
      self._waiting += 1
    try:
      return await anyio.to_thread.run_sync(self._explain, model_path, examples, steps, method,
                                            limiter=self._limiter)
    finally:
      with self._lock:
        self._waiting -= 1

  def _explain(self, model_path: str, examples: List[bytes], steps: int, method: str) -> List[Dict[str, Any]]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from inference import attribution, explain  # pylint: disable=g-import-not-at-top

    with self._lock:
      if model_path not in self._explainables:
        try:
          self._explainables[model_path] = attribution.load_explainable(model_path)
        except ModelfabError as e:
          raise BadRequest(f"this model cannot be explained: {e}") from e
      explainable = self._explainables[model_path]
    try:
      attribution.check_method(explainable, method)
    except ModelfabError as e:
      raise BadRequest(str(e)) from e
    found = []
    for serialized in examples:
      raw = tf.train.Example.FromString(serialized).features.feature[explainable.modality].bytes_list.value
      if not raw:
        raise BadRequest(f"every example needs an '{explainable.modality}' to explain")
      try:
        found.append(explain.explain_raw(explainable, raw[0], steps, method=method))
      except (tf.errors.InvalidArgumentError, ValueError, OSError) as e:
        raise BadRequest(f"an {explainable.modality} could not be explained: "
                         f"{str(e).strip().splitlines()[0]}") from e
    return found
