"""create_pipeline's wiring, without running it."""
import dataclasses
import pytest

from pipelines import config
from pipelines.pipeline import create_pipeline


def _by_id(pipeline):
  return {c.id: c for c in pipeline.components}


def test_wires_every_component_in_order(tmp_path):
  c = config.preset("digits-cnn", output=str(tmp_path), hparams={"epochs": 3, "learning_rate": 0.01},
                    beam_args=["--direct_num_workers=2"]).resolved()
  pipeline = create_pipeline(c, num_classes=10)
  assert [n.id for n in pipeline.components if n.id not in ("Quantizer", "OnnxExporter")] == [
      "ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate", "Transform", "Trainer",
      "ServingCheck", "baseline_resolver", "Evaluator", "Explainer", "Pusher"]
  components = _by_id(pipeline)
  assert components["Evaluator"] in components["Explainer"].upstream_nodes  # after it: the Explainer only reports
  assert "Explainer" not in _by_id(create_pipeline(dataclasses.replace(c, explain=False), num_classes=10))
  assert components["Trainer"] in components["Quantizer"].upstream_nodes
  assert components["Quantizer"] in components["Pusher"].upstream_nodes  # the preset quantizes (int8)
  assert "tflite_model" in components["Pusher"].inputs
  assert components["OnnxExporter"] in components["Pusher"].upstream_nodes and "onnx_model" in components["Pusher"].inputs
  assert "OnnxExporter" not in _by_id(create_pipeline(dataclasses.replace(c, export_onnx=False), num_classes=10))
  assert components["ServingCheck"] in components["Pusher"].upstream_nodes  # no push without the serving check
  assert "infra_blessing" in components["Pusher"].inputs
  assert "atomic_pusher" in str(components["Pusher"].executor_spec.executor_class)
  assert components["AnomaliesGate"] in components["Transform"].upstream_nodes
  assert components["Trainer"] in components["baseline_resolver"].upstream_nodes  # resolves after training
  assert pipeline.beam_pipeline_args == ["--direct_num_workers=2"]
  assert pipeline.pipeline_info.pipeline_root == str(tmp_path / "pipeline")


def test_transform_sees_only_its_hyperparameters(tmp_path):
  c = config.preset("digits-cnn", output=str(tmp_path), hparams={"epochs": 3, "image_size": 16})
  components = _by_id(create_pipeline(c, num_classes=10))
  import json  # pylint: disable=g-import-not-at-top
  transform_config = json.loads(components["Transform"].exec_properties["custom_config"])
  trainer_config = json.loads(components["Trainer"].exec_properties["custom_config"])
  assert transform_config["hparams"] == {"image_size": 16}
  assert trainer_config["hparams"]["epochs"] == 3 and trainer_config["task"] == "image_cnn"


@pytest.mark.parametrize("data_format, example_gen", [("image_folder", "ImageExampleGen"),
                                                      ("tfrecord", "TFRecordExampleGen")])
def test_example_gen_follows_data_format(tmp_path, data_format, example_gen):
  c = config.preset("digits-cnn", output=str(tmp_path), data_format=data_format, eval_percent=10)
  components = _by_id(create_pipeline(c, num_classes=3))
  assert example_gen in components
  import json  # pylint: disable=g-import-not-at-top
  splits = json.loads(components[example_gen].exec_properties["output_config"])["split_config"]["splits"]
  assert [(s["name"], s["hash_buckets"]) for s in splits] == [("train", 90), ("eval", 10)]


def test_statistics_gen_declares_the_image_task_s_images(tmp_path):
  import json  # pylint: disable=g-import-not-at-top

  image = _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path)), num_classes=3))
  options = json.loads(image["StatisticsGen"].exec_properties["stats_options_json"])
  assert '"imageDomain"' in options["schema_json"] and '"name": "image"' in options["schema_json"]
  text = _by_id(create_pipeline(config.preset("text-bert", output=str(tmp_path), data_format="text_csv"),
                                num_classes=3))
  assert not text["StatisticsGen"].exec_properties.get("stats_options_json")


def test_curated_schema_uses_import_schema_gen(tmp_path):
  c = config.preset("digits-cnn", output=str(tmp_path), schema=str(tmp_path / "schema.pbtxt"))
  assert "ImportSchemaGen" in _by_id(create_pipeline(c, num_classes=3))


def test_quantizer_follows_the_settings_and_is_left_out_with_none(tmp_path):
  c = config.preset("digits-cnn", output=str(tmp_path), quantize="float16", max_accuracy_drop=0.05)
  quantizer = _by_id(create_pipeline(c, num_classes=10))["Quantizer"]
  assert quantizer.exec_properties["quantize"] == "float16"
  assert quantizer.exec_properties["max_accuracy_drop"] == 0.05
  components = _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path), quantize="none"),
                                      num_classes=10))
  assert "Quantizer" not in components
  assert "tflite_model" not in components["Pusher"].inputs


def test_tune_puts_the_tuner_before_the_trainer_and_hparams_uri_an_importer(tmp_path):
  tuned = _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path), tune=True, tune_trials=5,
                                               tune_algorithm="hyperband"), num_classes=10))
  assert tuned["Tuner"] in tuned["Trainer"].upstream_nodes
  assert "hyperparameters" in tuned["Trainer"].inputs
  import json  # pylint: disable=g-import-not-at-top
  tune = json.loads(tuned["Tuner"].exec_properties["custom_config"])["tune"]
  assert tune == {"trials": 5, "algorithm": "hyperband", "max_minutes": 30.0}
  imported = _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path),
                                                  hparams_uri=str(tmp_path / "best")), num_classes=10))
  assert "Tuner" not in imported and imported["hparams_importer"] in imported["Trainer"].upstream_nodes
  plain = _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path)), num_classes=10))
  assert "hyperparameters" not in plain["Trainer"].inputs


@pytest.mark.parametrize("data_format, pattern", [("image_folder", "span-*/*/*"), ("tfrecord", "span-*/*"),
                                                  ("text_csv", "span-*/*.csv")])
def test_spans_reach_the_example_gen_and_a_drift_gate_precedes_transform(tmp_path, data_format, pattern):
  import json  # pylint: disable=g-import-not-at-top

  from components import span_inputs  # pylint: disable=g-import-not-at-top

  c = config.preset("digits-cnn", output=str(tmp_path), data=str(tmp_path / "in" / "span-{SPAN}"),
                    data_format=data_format).resolved()
  c = dataclasses.replace(c, span_folders=((4, str(tmp_path / "in" / "span-4")), (5, str(tmp_path / "in" / "span-5"))),
                          drift_baseline={"examples": "/x", "version": "7"}, allow_drift=True)
  components = _by_id(create_pipeline(c, num_classes=10))
  example_gen = next(v for k, v in components.items() if k.endswith("ExampleGen"))
  assert example_gen.exec_properties["input_base"] == str(tmp_path / "in")
  assert pattern in example_gen.exec_properties["input_config"]
  assert span_inputs.selected_spans(example_gen.exec_properties) == [(4, "span-4"), (5, "span-5")]
  gate = components["DriftGate"]
  assert gate in components["Transform"].upstream_nodes and example_gen in gate.upstream_nodes
  assert gate.exec_properties["span"] == 5 and gate.exec_properties["span_folder"] == str(tmp_path / "in" / "span-5")
  assert json.loads(gate.exec_properties["baseline"]) == {"examples": "/x", "version": "7"}
  assert gate.exec_properties["allow_drift"] == 1
  assert "DriftGate" not in _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path)).resolved(), 10))


def test_bulk_infer_adds_batch_inference_after_the_pusher(tmp_path):
  c = dataclasses.replace(config.preset("digits-cnn", output=str(tmp_path)).resolved(), bulk_infer=str(tmp_path),
                          beam_args=["--direct_num_workers=2"])
  components = _by_id(create_pipeline(c, num_classes=10))
  step = components["BatchInference"]
  assert components["Pusher"] in step.upstream_nodes
  assert step.exec_properties["input_path"] == str(tmp_path)
  assert step.exec_properties["beam_args"] == '["--direct_num_workers=2"]'
  assert "BatchInference" not in _by_id(create_pipeline(config.preset("digits-cnn", output=str(tmp_path)).resolved(),
                                                        10))
