"""Explainer: integrated-gradients attributions for a sample of the eval split, after the Evaluator.

On `num_examples` eval examples (every misclassified one first, up to half; the rest stratified by class) it explains
the Trainer's model's predicted class from the model's own explain signatures (pixels for images, word embeddings
merged back to words for text; inference/explain.py, inference/explain_text.py) and records per example the
deletion check (do the most-attributed pixels or words lower the probability faster than random ones?) and the
completeness error; in all, the share that beats random. The result is an Explanations artifact
(`explanations.json`) with the counts as custom properties, so `modelfab runs` and the report read them back
through ML Metadata.
"""
import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples, Model

from core import names


class Explanations(artifact.Artifact):
  """The Explainer's attributions and checks for a sample of the eval split (`explanations.json`)."""
  TYPE_NAME = "modelfab.Explanations"


EVAL_RECORDS = 2000  # eval examples read to choose from


@component
def Explainer(  # pylint: disable=invalid-name
    model: InputArtifact[Model], examples: InputArtifact[Examples], explanations: OutputArtifact[Explanations],
    num_examples: Parameter[int] = 64, steps: Parameter[int] = 64):
  """Explains `num_examples` eval examples with the Trainer's model; writes explanations.json."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  from inference import explain, model_check  # pylint: disable=g-import-not-at-top

  model_dir = path_utils.serving_model_path(model.uri)
  records = model_check.read_split_records(examples.uri, "eval", EVAL_RECORDS)
  report = explain.explain_split(model_dir, records, num_examples, steps)
  with open(os.path.join(explanations.uri, names.EXPLANATIONS_FILE), "w", encoding="utf-8") as f:
    json.dump(report, f)
  explanations.set_int_custom_property("explained", int(report["explained"]))
  explanations.set_int_custom_property("beats_random", int(report.get("beats_random", 0)))
  print(f"[modelfab] explainer: {explain.describe_split(report)}", flush=True)
