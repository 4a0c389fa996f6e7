"""The Evaluator's baseline: the latest blessed model trained before the candidate.

TFX's LatestBlessedModelStrategy resolves before the Trainer runs, so a re-run with nothing changed (Trainer from
cache) would compare the candidate with itself, feed the Evaluator a new input and defeat the cache. Resolving after
the Trainer, and only among models older than the candidate, gives the same baseline on an unchanged re-run (all
components cached) and the previous blessed model on a real change.

A blessed model the Evaluator cannot call (exported before its `evaluation` signature existed) is passed over, with
a note: comparing with it would fail the run, and an older modelfab's model is not a fair baseline anyway.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

from core import features

_CURRENT_MODEL_ID = "current_model_id"  # tfx.components.evaluator.constants
_BLESSED = "blessed"

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


def has_evaluation_signature(model: types.Artifact) -> bool:
  """Whether `model`'s SavedModel has the signature the Evaluator calls (core.features.EVALUATION_SIGNATURE)."""
  from google.protobuf.message import DecodeError  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  try:
    with open(os.path.join(path_utils.serving_model_path(model.uri), "saved_model.pb"), "rb") as f:
      saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  except (OSError, DecodeError):
    return False
  return any(features.EVALUATION_SIGNATURE in graph.signature_def for graph in saved_model.meta_graphs)


def pick_baseline(models: List[types.Artifact], blessings: List[types.Artifact], candidates: List[types.Artifact],
                  is_evaluable: Callable[[types.Artifact], bool] = has_evaluation_signature
                  ) -> Dict[str, List[types.Artifact]]:
  """The newest blessed model older than every candidate, with its blessing; empty lists when there is none, or
  when that model is not evaluable (older ones are older still)."""
  blessing_by_model = {b.get_int_custom_property(_CURRENT_MODEL_ID): b
                       for b in blessings if b.get_int_custom_property(_BLESSED) == 1}
  newest_allowed = min((c.id for c in candidates), default=None)
  for model in sorted(models, key=lambda m: m.id, reverse=True):
    if newest_allowed is not None and model.id >= newest_allowed:
      continue
    if model.id not in blessing_by_model:
      continue
    if not is_evaluable(model):
      print(f"[modelfab] note: the previous blessed model ({model.uri}) has no '{features.EVALUATION_SIGNATURE}' "
            "signature (an older modelfab exported it); evaluating without a baseline", flush=True)
      break
    return {MODEL_KEY: [model], BLESSING_KEY: [blessing_by_model[model.id]], CANDIDATE_KEY: []}
  return {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: []}


class PreviousBlessedModelStrategy(resolver.ResolverStrategy):
  """Resolver strategy over channels `model`, `model_blessing` (all of them) and `candidate` (the Trainer's model)."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    del store  # everything needed is in input_dict
    return pick_baseline(input_dict.get(MODEL_KEY, []), input_dict.get(BLESSING_KEY, []),
                         input_dict.get(CANDIDATE_KEY, []))
