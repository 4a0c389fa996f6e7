"""Pipeline configuration: typed presets that command-line flags override. Nothing is edited in code.

Everything a run depends on is here: data location and format, task, hyperparameters, blessing threshold, strategy,
Beam arguments, and where outputs go (`<output>/pipeline` artifacts, `<output>/metadata.sqlite` ML Metadata,
`<output>/serving/<model_name>/<version>` pushed models).
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from typing import Any, Dict, List, Optional, Tuple

from core import features, names, version_labels
from core.errors import UsageError
from core.layout import OutputLayout
from models import tasks  # imports no TensorFlow
from readers import spans as spans_lib
from pipelines import fingerprint

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
DATA_FORMATS = names.DATA_FORMATS

# Beam args when none are given (`default_beam_args`): the DirectRunner in one process below
# AUTO_MULTI_PROCESSING_EXAMPLES examples, multi-processing on all local cores from there on (and for data of unknown
# size). Measured on 2 cores with the whole pipeline on generated 32x32 images (benchmarks/cifar_benchmark.py
# --beam-sizes; benchmarks/RESULTS.md, "Beam's default mode"): 100,000 images took 160.6 s in one process and
# 161.8 s multi-processing, 200,000 took 331.8 s and 309.6 s; multi-processing used 1.6x the memory both times.
# Each worker starts and imports TensorFlow, and TFX builds an sdist per Beam component (~5 s each) because Beam
# args are set.
DEFAULT_BEAM_ARGS: tuple = ()
MULTI_PROCESSING_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")  # 0 = every core
AUTO_MULTI_PROCESSING_EXAMPLES = 200_000


def default_beam_args(num_examples: Optional[int]) -> List[str]:
  """Beam args for a run that gives none: multi-processing on all cores unless the data is known to be small."""
  if num_examples is not None and num_examples < AUTO_MULTI_PROCESSING_EXAMPLES:
    return list(DEFAULT_BEAM_ARGS)
  return list(MULTI_PROCESSING_BEAM_ARGS)


@dataclasses.dataclass
class PipelineConfig:
  """One pipeline run's settings. Paths may be relative; `resolved()` makes them absolute."""
  pipeline_name: str
  task: str  # module in models/ (models.tasks.TASKS)
  data: str
  output: str
  data_format: str = "image_folder"
  # Data in spans (readers/spans.py): `data` holds {SPAN}, `spans` chooses among the complete ones (latest, all,
  # N, A-B). `local_runner.build` resolves them into `span_folders`, (number, folder) oldest first, before the run.
  spans: Optional[str] = None
  span_folders: Tuple[Tuple[int, str], ...] = ()
  # The drift gate before Transform (components/drift_gate.py), on span data once a model was pushed: the newest
  # span against the data that model was trained on. `drift_baseline` ({"examples", "model_dir", "version"}) is
  # found by `local_runner.build`; the limits are Jensen-Shannon divergence (derived features) and L-infinity
  # distance (labels), those `modelfab monitor` uses for input drift.
  allow_drift: bool = False
  drift_jsd: float = 0.2
  drift_linf: float = 0.2
  drift_baseline: Optional[Dict[str, str]] = None
  text_column: str = features.TEXT_KEY  # for text_csv data
  label_column: str = features.RAW_LABEL_KEY  # for text_csv data
  model_name: str = "model"
  eval_percent: int = 20  # share of examples hashed into the eval split
  hparams: Dict[str, Any] = dataclasses.field(default_factory=dict)  # overrides of the task's DEFAULT_HPARAMS
  strategy: str = "auto"
  tpu_address: Optional[str] = None
  min_accuracy: float = 0.9  # absolute bar for blessing; the candidate must also not be worse than the baseline
  # Compression after the Trainer (components/quantizer.py): "none", "dynamic", "float16" or "int8"; the .tflite is
  # pushed only when its eval accuracy is within max_accuracy_drop of the float model's.
  quantize: str = "none"
  max_accuracy_drop: float = 0.01
  # A version label for the pushed version (core/version_labels.py). "canary" pins `stable` to the version serving
  # before, so the new version takes traffic only by label or canary share until `modelfab promote`.
  push_label: Optional[str] = None
  # model.onnx of the tensor signature beside the SavedModel, pushed when onnxruntime agrees with it on every eval
  # example (components/onnx_exporter.py).
  export_onnx: bool = True
  # Start the Trainer from the weights of the newest model this pipeline pushed (same architecture, else refused);
  # `local_runner.build` finds it (`warm_start_from`).
  warm_start: bool = False
  warm_start_from: Optional[str] = None
  # After the Pusher: the pushed version predicts everything in this folder (image folder, CSV, TFRecords) on Beam
  # (components/batch_inference.py), into the run's InferenceResult artifact.
  bulk_infer: Optional[str] = None
  # A JSON file of the user's considerations (users, use cases, limitations, tradeoffs, ethical considerations) for
  # the model card pushed with every version (reports/model_card.py).
  model_card_notes: Optional[str] = None
  # Hyperparameter search before the Trainer (TFX Tuner + KerasTuner, models/tuner.py), or the best hyperparameters
  # of an earlier search (a best_hyperparameters artifact folder) imported instead.
  tune: bool = False
  explain: bool = True  # image tasks: an Explainer step after the Evaluator (components/explainer.py)
  explain_examples: int = 64  # eval examples it explains
  max_epsilon: Optional[float] = None  # DP-SGD: a model that spent more privacy is not blessed (models.privacy)
  tune_trials: int = 10
  tune_algorithm: str = "random"
  tune_max_minutes: float = 30.0
  hparams_uri: Optional[str] = None
  num_classes: Optional[int] = None  # found from the data when not given
  schema: Optional[str] = None  # a curated schema.pbtxt to validate against (else SchemaGen infers one)
  beam_args: List[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_BEAM_ARGS))
  enable_cache: bool = True
  # Kubeflow / Vertex AI only: more than one Trainer worker runs training as a Vertex AI custom job with that many
  # replicas of `image` (pool 0 is the chief) under MultiWorkerMirroredStrategy.
  trainer_workers: int = 1
  gcp_project: Optional[str] = None
  gcp_region: Optional[str] = None
  trainer_machine_type: str = "n1-standard-8"
  image: Optional[str] = None

  @property
  def layout(self) -> OutputLayout:
    return OutputLayout(self.output)

  @property
  def pipeline_root(self) -> str:
    return self.layout.pipeline_root

  @property
  def metadata_path(self) -> str:
    return self.layout.metadata_path

  @property
  def serving_dir(self) -> str:
    return self.layout.serving_dir(self.model_name)

  def resolved(self) -> "PipelineConfig":
    """A copy with absolute data/output/schema paths (TFX stores paths as given)."""
    absolute = lambda p: p if not p or "://" in p else os.path.abspath(os.path.expanduser(p))
    hparams = dict(self.hparams)
    if hparams.get("bert_checkpoint"):
      hparams["bert_checkpoint"] = absolute(hparams["bert_checkpoint"])
    return dataclasses.replace(self, data=absolute(self.data), output=absolute(self.output),
                               schema=absolute(self.schema), hparams=hparams, hparams_uri=absolute(self.hparams_uri),
                               model_card_notes=absolute(self.model_card_notes), bulk_infer=absolute(self.bulk_infer))

  def module_custom_config(self) -> Dict[str, Any]:
    """What Transform and Trainer module code receive as `custom_config`."""
    strategy = "multi_worker" if self.trainer_workers > 1 else self.strategy
    return {"task": self.task, "hparams": dict(self.hparams), "strategy": strategy,
            "tpu_address": self.tpu_address, "code_fingerprint": fingerprint.code_fingerprint(),
            **({"warm_start_from": self.warm_start_from} if self.warm_start_from else {})}

  def model_card_settings(self) -> Dict[str, Any]:
    """What the Pusher needs for the model card: names, the blessing threshold, the user's notes (DataError naming
    the notes file and field when it cannot be used)."""
    from reports import model_card  # pylint: disable=g-import-not-at-top

    notes = model_card.read_notes(self.model_card_notes) if self.model_card_notes else None
    return {"pipeline": self.pipeline_name, "model_name": self.model_name, "min_accuracy": self.min_accuracy,
            "notes": notes}

  def check_settings(self) -> None:
    """Raises ValueError naming the flag of the first setting out of its bounds (SETTING_BOUNDS)."""
    if not self.data:
      raise ValueError(f"--data is required: the {self.pipeline_name} preset has no embedded data (make a "
                       "CIFAR-10-like set with `python benchmarks/cifar_benchmark.py --make-data DIR --images N`)")
    if self.spans is not None and not spans_lib.has_span_token(self.data):
      raise ValueError(f"--spans needs a span pattern in --data (e.g. 'incoming/span-{spans_lib.SPAN_TOKEN}'), "
                       f"not {self.data}")
    if self.spans is not None:
      spans_lib.parse_selection(self.spans)
    if spans_lib.has_span_token(self.data):
      spans_lib.pattern_root(self.data)  # the pattern's shape
    elif self.allow_drift:
      raise ValueError("--allow-drift applies to data in spans (--data with {SPAN}); the drift gate compares a new "
                       "span with what the blessed model was trained on")
    if self.hparams.get("precision") not in (None, *names.PRECISIONS):
      raise ValueError(f"--precision must be one of {', '.join(names.PRECISIONS)}, got "
                       f"{self.hparams['precision']!r}")
    if self.push_label is not None and not version_labels.LABEL_PATTERN.match(self.push_label):
      raise ValueError(f"--push-label {self.push_label!r}: lower-case letters, digits, '-' and '_', starting with a "
                       "letter")
    if self.push_label and "://" in self.output:
      raise ValueError("--push-label needs a local output dir: version labels are a file beside the versions")
    if self.model_card_notes:
      self.model_card_settings()  # reads and checks the notes file
    if self.bulk_infer and "://" not in self.bulk_infer and not os.path.exists(self.bulk_infer):
      raise ValueError(f"--bulk-infer {self.bulk_infer}: no such file or folder")
    if self.quantize not in names.QUANTIZE_MODES:
      raise ValueError(f"--quantize must be one of {', '.join(names.QUANTIZE_MODES)}, got {self.quantize!r}")
    if self.hparams.get("prune_sparsity") and self.task not in tasks.PRUNABLE_TASKS:
      raise ValueError(f"--prune-sparsity is not available for the {self.task} task: its BERT encoder is a "
                       "transformers subclassed Keras layer whose dense kernels tensorflow-model-optimization "
                       "cannot wrap (only image_cnn can be pruned)")
    if self.warm_start and self.hparams.get("prune_sparsity"):
      raise ValueError("--warm-start and --prune-sparsity exclude each other: a pruned model's layers carry masks "
                       "the pushed model does not have")
    if self.warm_start and (self.tune or self.trainer_workers > 1):
      raise ValueError("--warm-start is for a local run's Trainer: not with --tune or several --workers")
    self.check_privacy_settings()
    if self.tune_algorithm not in names.TUNE_ALGORITHMS:
      raise ValueError(f"--tune-algorithm must be one of {', '.join(names.TUNE_ALGORITHMS)}, got "
                       f"{self.tune_algorithm!r}")
    if self.tune and self.hparams_uri:
      raise ValueError("--tune and --hparams-from exclude each other: --hparams-from reuses an earlier search "
                       "instead of tuning again")
    values = {**self.hparams, "min_accuracy": self.min_accuracy, "eval_percent": self.eval_percent,
              "drift_jsd": self.drift_jsd, "drift_linf": self.drift_linf,
              "tune_trials": self.tune_trials, "tune_max_minutes": self.tune_max_minutes,
              "num_classes": self.num_classes, "trainer_workers": self.trainer_workers,
              "max_accuracy_drop": self.max_accuracy_drop, "explain_examples": self.explain_examples}
    for name, (low, high, low_open) in SETTING_BOUNDS.items():
      value = values.get(name)
      if value is None:
        continue
      flag = SETTING_FLAGS.get(name, "--" + name.replace("_", "-"))
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{flag} must be a number, got {value!r}")
      if (value <= low if low_open else value < low) or value > high:
        bounds = f"{'above' if low_open else 'at least'} {low} and at most {high}"
        raise ValueError(f"{flag} must be {bounds}, got {value}")

  def check_privacy_settings(self) -> None:
    """DP-SGD's flags (models.privacy) and what they do not combine with; ValueError naming the flag."""
    from models import privacy  # pylint: disable=g-import-not-at-top

    dp = privacy.enabled(self.hparams)
    if self.max_epsilon is not None and not dp:
      raise ValueError("--max-epsilon needs DP-SGD training (--dp-l2-clip with --dp-noise-multiplier or "
                       "--dp-target-epsilon): without it no privacy is accounted")
    if self.max_epsilon is not None and not (math.isfinite(self.max_epsilon) and self.max_epsilon > 0):
      raise ValueError(f"--max-epsilon must be above 0, got {self.max_epsilon}")
    if not any(self.hparams.get(name) is not None for name in privacy.HPARAMS):
      return
    batch_size = self.hparams.get("batch_size")
    if batch_size is None and self.hparams.get("dp_microbatches") is not None:
      batch_size = tasks.get_task(self.task).DEFAULT_HPARAMS["batch_size"]
    try:
      privacy.check_settings({**self.hparams, "batch_size": batch_size or 0})
    except UsageError as e:
      raise ValueError(str(e)) from e
    if self.tune:
      raise ValueError("DP-SGD and --tune exclude each other: every trial would train on the data and spend privacy; "
                       "tune without DP, then train with --hparams-from and DP")
    if self.trainer_workers > 1 or self.strategy not in ("auto", "default"):
      raise ValueError("DP-SGD trains on one replica (--strategy default or auto, one worker): each replica would "
                       "add its own noise to a gradient that is then averaged")

  def check_trainer_workers(self) -> None:
    """Raises ValueError when `trainer_workers` > 1 lacks what a Vertex AI training job needs."""
    if self.trainer_workers < 1:
      raise ValueError(f"trainer workers must be at least 1, got {self.trainer_workers}")
    if self.trainer_workers == 1:
      return
    if self.strategy not in ("auto", "multi_worker"):
      raise ValueError(f"{self.trainer_workers} trainer workers need strategy multi_worker, not {self.strategy!r}")
    missing = [flag for flag, value in (("--project", self.gcp_project), ("--region", self.gcp_region),
                                        ("--image", self.image)) if not value]
    if missing:
      raise ValueError(f"{self.trainer_workers} trainer workers run as a Vertex AI training job, which needs "
                       f"{', '.join(missing)}")


# name (hparam or config field; the flag is --name-with-dashes) -> (lower bound, upper bound, lower bound excluded)
SETTING_BOUNDS: Dict[str, tuple] = {
    "epochs": (1, 10_000, False),
    "batch_size": (1, 65_536, False),
    "learning_rate": (0.0, 10.0, True),
    "image_size": (4, 1024, False),
    "max_seq_length": (3, 512, False),
    "min_accuracy": (0.0, 1.0, False),
    "eval_percent": (1, 99, False),
    "num_classes": (2, 100_000, False),
    "trainer_workers": (1, 1024, False),
    "prune_sparsity": (0.0, 0.99, True),
    "dropout": (0.0, 0.95, False),
    "explain_examples": (1, 10_000, False),
    "max_accuracy_drop": (0.0, 1.0, False),
    "drift_jsd": (0.0, 1.0, True),
    "drift_linf": (0.0, 1.0, True),
    "tune_trials": (1, 1000, False),
    "tune_max_minutes": (0.0, 10_000.0, True),
}

SETTING_FLAGS = {"trainer_workers": "--workers"}


PRESETS: Dict[str, PipelineConfig] = {
    "digits-cnn": PipelineConfig(
        pipeline_name="digits-cnn",
        task="image_cnn",
        data=str(DATA_DIR / "digits"),
        output="modelfab-output",
        data_format="image_folder",
        model_name="digits-cnn",
        min_accuracy=0.95,
        quantize="int8",  # measured: 6% of the SavedModel's size, no accuracy lost, 14x faster at batch 1
    ),
    # CIFAR-10-like data (32x32 RGB photos, 10 classes): a small residual CNN of the same blocks. No embedded data:
    # give --data. Measured on the generated 20,000-image set: benchmarks/RESULTS.md, "The `cifar-resnet` preset".
    "cifar-resnet": PipelineConfig(
        pipeline_name="cifar-resnet",
        task="image_cnn",
        data="",
        output="modelfab-output",
        data_format="image_folder",
        model_name="cifar-resnet",
        hparams={"image_size": 32, "channels": 3, "conv_filters": [32, 64, 128], "residual": True,
                 "augment_flip": True, "epochs": 10, "batch_size": 64, "dropout": 0.2},
        min_accuracy=0.8,
        quantize="int8",
    ),
    "text-bert": PipelineConfig(
        pipeline_name="text-bert",
        task="text_bert",
        data=str(DATA_DIR / "reviews"),
        output="modelfab-output",
        data_format="text_csv",
        model_name="text-bert",
        min_accuracy=0.7,
        quantize="dynamic",  # int8 weights, float activations: the usual choice for transformers
    ),
}


def preset(name: str, **overrides) -> PipelineConfig:
  """A copy of preset `name` with non-None `overrides` applied; `hparams` overrides merge into the preset's."""
  if name not in PRESETS:
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
  config = dataclasses.replace(PRESETS[name])
  hparams = {**config.hparams, **{k: v for k, v in (overrides.pop("hparams", None) or {}).items() if v is not None}}
  config = dataclasses.replace(config, hparams=hparams, **{k: v for k, v in overrides.items() if v is not None})
  if config.data_format not in DATA_FORMATS:
    raise ValueError(f"unknown data format {config.data_format!r}; choose one of {', '.join(DATA_FORMATS)}")
  return config
