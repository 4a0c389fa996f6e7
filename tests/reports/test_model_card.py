"""Model cards: valid against Model Card Toolkit's v0.0.2 schema, with metrics per class by name, data counts,
lineage, compression and the user's notes; bad notes name the file and the field."""
import json

import pytest

from core.errors import DataError
from core.model_files import ModelMetadata
from reports import model_card

METADATA = ModelMetadata(task="image_cnn", serving_features=["image"], labels=["7", "1", "3"],
                         training_precision="float32", training_precision_reason="no AMX")
METRICS = {"sparse_categorical_accuracy": 0.9, "example_count": 30.0, "recall/class_0": 0.8, "recall/class_2": 1.0,
           "macro_recall": 0.9}


def _card(**changes):
  arguments = dict(name="digits", version="1764770000", metadata=METADATA, metrics=METRICS,
                   split_counts={"train": {"7": 40, "1": 40, "3": 40}, "eval": {"7": 10, "1": 10, "3": 10}},
                   blessing={"min_accuracy": 0.8, "baseline": None},
                   lineage={"pipeline": "digits-cnn", "run": "2026-12-03T10:00", "model": "/out/pipeline/Trainer/model/7",
                            "pushed_to": "/out/serving/digits/1764770000"},
                   compression={"mode": "int8", "blessed": True, "accuracy_drop": 0.0, "label_agreement": 1.0,
                                "compressed": {"bytes": 76672}}, explainable=True,
                   onnx={"blessed": True, "eval_examples": 30, "label_agreement": 1.0,
                         "max_probability_difference": 5e-7})
  arguments.update(changes)
  return model_card.build_model_card(**arguments)


def test_a_card_validates_and_names_classes_data_lineage_and_compression(tmp_path):
  card = _card()
  assert model_card.schema_errors(card) == []
  slices = {(m["type"], m["slice"]): m["value"] for m in card["quantitative_analysis"]["performance_metrics"]}
  assert slices[("recall", "class=7")] == "0.8000" and slices[("recall", "class=3")] == "1.0000"
  assert slices[("sparse_categorical_accuracy", "overall")] == "0.9000" and slices[("example_count", "overall")] == "30"
  assert "3 classes (1, 3, 7)" in card["model_details"]["overview"]
  assert [d["name"] for d in card["model_parameters"]["data"]] == ["eval split", "train split"]
  assert "120 examples" in card["model_parameters"]["data"][1]["description"]
  details = card["model_details"]
  assert details["version"]["name"] == "1764770000" and "run 2026-12-03T10:00" in details["documentation"]
  assert "threshold 0.8" in details["documentation"] and "explain_pixels" in details["documentation"]
  assert "model.onnx was pushed beside it (the same label on 100.0% of 30" in card["model_parameters"]["model_architecture"]
  assert "The int8 TFLite model was pushed beside it (75 KB" in card["model_parameters"]["model_architecture"]
  paths = model_card.write_model_card(str(tmp_path), card)
  assert json.loads(open(paths[0]).read()) == card
  page = open(paths[1]).read()
  assert "<th>recall</th>" in page and "<td>7</td>" in page and "Model card: digits, version 1764770000" in page
  assert model_card.read_model_card(str(tmp_path)) == card


def test_the_schema_catches_a_broken_card():
  card = _card()
  card["model_details"]["version"]["name"] = 3
  card["extra"] = True
  errors = model_card.schema_errors(card)
  assert any("model_details/version/name" in e for e in errors) and any("extra" in e for e in errors)


def test_notes_become_the_considerations(tmp_path):
  notes = tmp_path / "notes.json"
  notes.write_text(json.dumps({"users": ["clinicians"], "limitations": ["adults only"],
                               "ethical_considerations": [{"name": "bias", "mitigation_strategy": "audits"}]}))
  card = _card(notes=model_card.read_notes(str(notes)))
  assert card["considerations"] == {"users": [{"description": "clinicians"}],
                                    "limitations": [{"description": "adults only"}],
                                    "ethical_considerations": [{"name": "bias", "mitigation_strategy": "audits"}]}
  assert model_card.schema_errors(card) == []
  assert "Trained on 120 examples" in _card()["considerations"]["limitations"][0]["description"]  # the default


@pytest.mark.parametrize("text,message", [
    ("{nope", "cannot read it as JSON"),
    ('["users"]', "expected a JSON object"),
    ('{"intended": []}', "unknown field(s) ['intended']"),
    ('{"users": "everyone"}', "'users' must be a list of strings"),
    ('{"ethical_considerations": [{"risk": "x"}]}', "'ethical_considerations' must be a list"),
])
def test_bad_notes_name_the_file_and_field(tmp_path, text, message):
  notes = tmp_path / "notes.json"
  notes.write_text(text)
  with pytest.raises(DataError, match=f"--model-card-notes {notes}: .*") as error:
    model_card.read_notes(str(notes))
  assert message in str(error.value)
