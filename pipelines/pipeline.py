"""`create_pipeline`: the one definition of the modelfab TFX pipeline, for every task and every orchestrator.

The names are those `tfx.v1` re-exports, imported from their defining modules: `import tfx.v1` also imports
google-cloud-aiplatform, 5-9 s of every command on a 2-core machine (measured), a third of a cached re-run; and
`tfx.components` itself imports every TFX component (1.2-1.5 s more), so its `__init__` is deferred
(pipelines/deferred_imports.py) and the Tuner is imported only when the pipeline has one.
"""
from __future__ import annotations

import json
import os
from typing import Optional

from pipelines import deferred_imports

deferred_imports.defer_package_init("tfx.components")  # before the first tfx.components import below

# pylint: disable=g-import-not-at-top,wrong-import-position
from tfx.components.evaluator.component import Evaluator
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.components.transform.component import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2
from tfx.types import Channel, standard_artifacts

from components import atomic_pusher
from components.anomalies_gate import AnomaliesGate
from components import span_inputs
from components.baseline_resolver import PreviousBlessedModelStrategy
from components.batch_inference import BatchInference
from components.drift_gate import DriftGate
from components.image_example_gen import ImageExampleGen
from components.onnx_exporter import OnnxExporter
from components.quantizer import Quantizer
from components.explainer import Explainer
from components.serving_check import ServingCheck
from components.text_csv_example_gen import TextCsvExampleGen
from components.tfrecord_example_gen import TFRecordExampleGen
from core import names
from models import evaluation, tasks
from pipelines.config import PipelineConfig
from readers import spans as spans_lib

PREPROCESSING_FN = "models.{task}.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
TUNER_FN = "models.tuner.tuner_fn"


# Each format's input pattern under its input base: one split, divided into train and eval by hash.
INPUT_PATTERNS = {"image_folder": "*/*", "tfrecord": "*", "text_csv": "*.csv"}


def make_example_gen(config: PipelineConfig):
  """The ExampleGen for `config.data_format`, splitting train/eval by hash; on data in spans, it reads the
  resolved `config.span_folders` (components/span_inputs.py)."""
  output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
      example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=100 - config.eval_percent),
      example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=config.eval_percent),
  ]))
  input_base, pattern, spans = config.data, INPUT_PATTERNS[config.data_format], ()
  if config.data_format == "text_csv" and config.data.lower().endswith(".csv"):
    input_base, pattern = os.path.dirname(config.data), os.path.basename(config.data)
  if config.span_folders:
    input_base, span_glob = spans_lib.pattern_root(config.data)
    pattern = os.path.join(span_glob, pattern)  # every span's files: TFX's input fingerprint
    spans = [(number, os.path.relpath(folder, input_base)) for number, folder in config.span_folders]
  input_config = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])
  common = dict(input_base=input_base, input_config=input_config, output_config=output_config)
  if config.data_format == "image_folder":
    return ImageExampleGen(custom_config=span_inputs.make_custom_config(spans), **common)
  if config.data_format == "tfrecord":
    return TFRecordExampleGen(spans=spans, **common)
  if config.data_format == "text_csv":
    return TextCsvExampleGen(text_column=config.text_column, label_column=config.label_column, spans=spans,
                             **common)
  raise ValueError(f"unknown data format {config.data_format!r}")


def make_drift_gate(config: PipelineConfig, example_gen):
  """The DriftGate on the newest span, on data in spans; None otherwise."""
  if not config.span_folders:
    return None
  span, folder = config.span_folders[-1]
  return DriftGate(examples=example_gen.outputs["examples"], span=span, span_folder=folder,
                   data_format=config.data_format, input_key=tasks.get_task(config.task).SERVING_FEATURE_KEYS[0],
                   text_column=config.text_column, label_column=config.label_column,
                   baseline=json.dumps(config.drift_baseline or {}, sort_keys=True), jsd=config.drift_jsd,
                   linf=config.drift_linf, allow_drift=int(config.allow_drift)).with_id(names.DRIFT_GATE)


def make_stats_options(config: PipelineConfig):
  """StatisticsGen's options: the task's encoded-image features (`IMAGE_FEATURE_KEYS`) declared as images, or None.

  TFDV then gives them byte-size statistics and skips counting their values (every image is distinct: top-k
  counts of 16,000 PNGs took 0.3-0.6 s of a 2 s StatisticsGen, measured). The inferred schema is unchanged."""
  image_keys = getattr(tasks.get_task(config.task), "IMAGE_FEATURE_KEYS", ())
  if not image_keys:
    return None
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top  # StatisticsGen imports it anyway
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top

  schema = schema_pb2.Schema()
  for key in image_keys:
    schema.feature.add(name=key, type=schema_pb2.BYTES).image_domain.SetInParent()
  return tfdv.StatsOptions(schema=schema)


ORCHESTRATORS = ("local", "kubeflow")


def make_hyperparameters(config: PipelineConfig, module_config, example_gen, transform, schema_gen):
  """The Tuner (`tune`), or an Importer of an earlier search's best hyperparameters (`hparams_uri`), or None."""
  if config.tune:
    from components.hparam_tuner import Tuner  # pylint: disable=g-import-not-at-top  # KerasTuner, Keras 3: 0.4 s

    return Tuner(tuner_fn=TUNER_FN, examples=example_gen.outputs["examples"],
                 transform_graph=transform.outputs["transform_graph"], schema=schema_gen.outputs["schema"],
                 custom_config={**module_config, "tune": {"trials": config.tune_trials,
                                                          "algorithm": config.tune_algorithm,
                                                          "max_minutes": config.tune_max_minutes}}).with_id(names.TUNER)
  if config.hparams_uri:
    from tfx.dsl.components.common.importer import Importer  # pylint: disable=g-import-not-at-top

    return Importer(source_uri=config.hparams_uri, artifact_type=standard_artifacts.HyperParameters,
                    reimport=False).with_id(names.HPARAMS_IMPORTER)
  return None


def make_trainer(config: PipelineConfig, module_config, example_gen, transform, schema_gen, hyperparameters=None):
  """The Trainer, reading raw examples through the Transform graph (models.input_pipeline); with `trainer_workers` > 1, TFX's Vertex AI Trainer, which runs `run_fn` on that many replicas.
  `hyperparameters`: the Tuner or the Importer whose best hyperparameters override the configured ones."""
  inputs = dict(run_fn=RUN_FN, examples=example_gen.outputs["examples"],
                transform_graph=transform.outputs["transform_graph"], schema=schema_gen.outputs["schema"])
  if hyperparameters is not None:
    key = "best_hyperparameters" if "best_hyperparameters" in hyperparameters.outputs else "result"  # Tuner or Importer
    inputs["hyperparameters"] = hyperparameters.outputs[key]
  config.check_trainer_workers()
  if config.trainer_workers == 1:
    return Trainer(custom_config=module_config, **inputs).with_id(names.TRAINER)
  from tfx.extensions.google_cloud_ai_platform import constants  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform.trainer import component as vertex_trainer  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor  # pylint: disable=g-import-not-at-top

  return vertex_trainer.Trainer(custom_config={
      **module_config,
      constants.ENABLE_VERTEX_KEY: True,
      constants.VERTEX_REGION_KEY: config.gcp_region,
      vertex_executor.TRAINING_ARGS_KEY: vertex_job_spec(config),
  }, **inputs).with_id(names.TRAINER)


def vertex_job_spec(config: PipelineConfig):
  """A Vertex AI CustomJob spec: pool 0 is the chief (1 replica), pool 1 the other workers."""
  pool = lambda count: {"machine_spec": {"machine_type": config.trainer_machine_type}, "replica_count": count,
                        "container_spec": {"image_uri": config.image}}
  return {"project": config.gcp_project, "worker_pool_specs": [pool(1), pool(config.trainer_workers - 1)]}


def create_pipeline(config: PipelineConfig, num_classes: int,
                    metadata_connection_config: Optional[object] = None,
                    orchestrator: str = "local") -> tfx_pipeline.Pipeline:
  """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator (+gate) [+ DriftGate on spans] -> Transform -> [Tuner or an Importer
  of earlier best hyperparameters] -> Trainer ->
  baseline Resolver -> Evaluator, ServingCheck, Quantizer (unless quantize is "none") -> Pusher (atomic)
  [-> BatchInference with bulk_infer], wired
  from `config`.

  orchestrator: "local" (LocalDagRunner) or "kubeflow" (KubeflowV2DagRunner). Kubeflow accepts only TFX's own
  resolver strategies, so there the baseline is LatestBlessedModelStrategy's (resolved before the Trainer; an
  unchanged re-run then compares the model with itself) instead of modelfab's "previous blessed" strategy.
  """
  if orchestrator not in ORCHESTRATORS:
    raise ValueError(f"unknown orchestrator {orchestrator!r}; choose one of {', '.join(ORCHESTRATORS)}")
  module_config = config.module_custom_config()
  # Transform sees only the hyperparameters it uses, so changing e.g. the learning rate re-runs the Trainer only.
  transform_hparams = tasks.get_task(config.task).TRANSFORM_HPARAMS
  transform_config = {**module_config,
                      "hparams": {k: v for k, v in module_config["hparams"].items() if k in transform_hparams}}
  example_gen = make_example_gen(config)
  statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"],
                                 stats_options=make_stats_options(config)).with_id(names.STATISTICS_GEN)
  if config.schema:
    schema_gen = ImportSchemaGen(schema_file=config.schema)
  else:
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                           infer_feature_shape=True).with_id(names.SCHEMA_GEN)
  example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                       schema=schema_gen.outputs["schema"]).with_id(names.EXAMPLE_VALIDATOR)
  anomalies_gate = AnomaliesGate(anomalies=example_validator.outputs["anomalies"]).with_id(names.ANOMALIES_GATE)
  transform = Transform(
      examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
      preprocessing_fn=PREPROCESSING_FN.format(task=config.task), custom_config=transform_config,
      disable_statistics=True,  # StatisticsGen already covers the raw data; this saved ~20 s of a 2-core run
      # Analyze only: the Trainer applies the graph in tf.data (models.input_pipeline), which is cheaper than
      # writing and parsing back transformed examples (12 KB of float pixels per 32x32 RGB image).
      materialize=False).with_id(names.TRANSFORM)
  transform.add_upstream_node(anomalies_gate)
  drift_gate = make_drift_gate(config, example_gen)
  if drift_gate is not None:
    transform.add_upstream_node(drift_gate)
  trainer_config = {**module_config, "num_classes": num_classes}
  hyperparameters = make_hyperparameters(config, trainer_config, example_gen, transform, schema_gen)
  trainer = make_trainer(config, trainer_config, example_gen, transform, schema_gen, hyperparameters)
  if orchestrator == "kubeflow":
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing)).with_id(names.BASELINE_RESOLVER)
  else:
    baseline_resolver = Resolver(
        strategy_class=PreviousBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        candidate=trainer.outputs["model"]).with_id(names.BASELINE_RESOLVER)
  evaluator = Evaluator(
      examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
      baseline_model=baseline_resolver.outputs["model"],
      eval_config=evaluation.make_eval_config(config.min_accuracy)).with_id(names.EVALUATOR)
  # Before the Pusher: a fresh process loads the model and calls serving_default on raw eval examples.
  # With --max-epsilon it also refuses a model whose DP-SGD training spent more privacy (models.privacy).
  serving_check = ServingCheck(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
                               max_epsilon=float(config.max_epsilon or 0.0)).with_id(names.SERVING_CHECK)
  # The .tflite model, judged against the float model on the eval split; pushed beside it only when blessed.
  quantizer = None
  if config.quantize != "none":
    quantizer = Quantizer(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
                          quantize=config.quantize,
                          max_accuracy_drop=config.max_accuracy_drop).with_id(names.QUANTIZER)
  # model.onnx, checked against the SavedModel on the eval split; pushed beside it only when they agree.
  onnx_exporter = None
  if config.export_onnx:
    onnx_exporter = OnnxExporter(model=trainer.outputs["model"],
                                 examples=example_gen.outputs["examples"]).with_id(names.ONNX_EXPORTER)
  pusher = atomic_pusher.ModelPusher(  # a version appears whole or not at all
      model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
      infra_blessing=serving_check.outputs["blessing"],
      tflite_model=quantizer.outputs["tflite_model"] if quantizer else None, push_label=config.push_label,
      model_evaluation=evaluator.outputs["evaluation"], statistics=statistics_gen.outputs["statistics"],
      examples=example_gen.outputs["examples"],
      model_card=config.model_card_settings(),
      onnx_model=onnx_exporter.outputs["onnx_model"] if onnx_exporter else None,
      push_destination=pusher_pb2.PushDestination(
          filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.serving_dir))).with_id(names.PUSHER)
  explainer = None
  if config.explain and config.task in tasks.EXPLAINABLE_TASKS:  # after the Evaluator: it only reports
    explainer = Explainer(model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
                          num_examples=config.explain_examples).with_id(names.EXPLAINER)
    explainer.add_upstream_node(evaluator)
  batch_inference = None
  if config.bulk_infer:
    batch_inference = BatchInference(pushed_model=pusher.outputs["pushed_model"], input_path=config.bulk_infer,
                                     text_column=config.text_column,
                                     beam_args=json.dumps(list(config.beam_args))).with_id(names.BATCH_INFERENCE)
  return tfx_pipeline.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=[example_gen, statistics_gen, schema_gen, example_validator, anomalies_gate]
      + ([drift_gate] if drift_gate else []) + [transform]
      + ([hyperparameters] if hyperparameters else [])
      + [trainer, baseline_resolver, evaluator, serving_check] + ([explainer] if explainer else [])
      + ([quantizer] if quantizer else [])
      + ([onnx_exporter] if onnx_exporter else []) + [pusher] + ([batch_inference] if batch_inference else []),
      enable_cache=config.enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(config.beam_args))
