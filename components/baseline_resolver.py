"""The Evaluator's baseline: the latest blessed model trained before the candidate.

TFX's LatestBlessedModelStrategy resolves before the Trainer runs, so a re-run with nothing changed (Trainer from
cache) would compare the candidate with itself, feed the Evaluator a new input and defeat the cache. Resolving after
the Trainer, and only among models older than the candidate, gives the same baseline on an unchanged re-run (all
components cached) and the previous blessed model on a real change.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver

_CURRENT_MODEL_ID = "current_model_id"  # tfx.components.evaluator.constants
_BLESSED = "blessed"

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"


def pick_baseline(models: List[types.Artifact], blessings: List[types.Artifact],
                  candidates: List[types.Artifact]) -> Dict[str, List[types.Artifact]]:
  """The newest blessed model older than every candidate, with its blessing; empty lists when there is none."""
  blessing_by_model = {b.get_int_custom_property(_CURRENT_MODEL_ID): b
                       for b in blessings if b.get_int_custom_property(_BLESSED) == 1}
  newest_allowed = min((c.id for c in candidates), default=None)
  for model in sorted(models, key=lambda m: m.id, reverse=True):
    if newest_allowed is not None and model.id >= newest_allowed:
      continue
    if model.id in blessing_by_model:
      return {MODEL_KEY: [model], BLESSING_KEY: [blessing_by_model[model.id]], CANDIDATE_KEY: []}
  return {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: []}


class PreviousBlessedModelStrategy(resolver.ResolverStrategy):
  """Resolver strategy over channels `model`, `model_blessing` (all of them) and `candidate` (the Trainer's model)."""

  def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                        ) -> Optional[Dict[str, List[types.Artifact]]]:
    del store  # everything needed is in input_dict
    return pick_baseline(input_dict.get(MODEL_KEY, []), input_dict.get(BLESSING_KEY, []),
                         input_dict.get(CANDIDATE_KEY, []))
