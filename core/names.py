"""Node ids of the pipeline's components, metric keys, and the files that modelfab's artifacts hold.

ML Metadata records every execution under its node id, so the pipeline (`create_pipeline`), the run summaries, the
report and the command line all name components through these constants.
"""

# Node ids (`create_pipeline` gives each component its id from here).
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
ANOMALIES_GATE = "AnomaliesGate"
DRIFT_GATE = "DriftGate"
TRANSFORM = "Transform"
TRAINER = "Trainer"
TUNER = "Tuner"
HPARAMS_IMPORTER = "hparams_importer"  # imports an earlier search's best hyperparameters (--hparams-from)
BASELINE_RESOLVER = "baseline_resolver"
EVALUATOR = "Evaluator"
SERVING_CHECK = "ServingCheck"
QUANTIZER = "Quantizer"
ONNX_EXPORTER = "OnnxExporter"
PUSHER = "Pusher"
BATCH_INFERENCE = "BatchInference"
EXPLAINER = "Explainer"
EXPLANATIONS_FILE = "explanations.json"  # the Explainer's artifact (components/explainer.py)

# Metric keys, as TFMA records them (accuracy: models.evaluation.SparseCategoricalAccuracy) and as modelfab derives
# them from the confusion matrix (inference.eval_metrics.per_class_metrics).
ACCURACY = "sparse_categorical_accuracy"
MACRO_PRECISION = "macro_precision"
MACRO_RECALL = "macro_recall"
MACRO_F1 = "macro_f1_score"
EXAMPLE_COUNT = "example_count"
SUMMARY_METRICS = (ACCURACY, MACRO_PRECISION, MACRO_RECALL, MACRO_F1, EXAMPLE_COUNT)  # what summaries show

# The choices of settings that more than one layer checks (the command line without importing TensorFlow).
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")  # models.strategy.get_strategy
TUNE_ALGORITHMS = ("random", "bayesian", "hyperband")  # models.tuner.tuner_fn
PRECISIONS = ("auto", "float32", "bfloat16", "float16")  # models.precision.choose
QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")  # inference.compression.convert ("none": no .tflite)
DATA_FORMATS = ("image_folder", "tfrecord", "text_csv")  # readers/: what --data (and predict --batch) holds

# Files inside artifacts.
BEST_HPARAMS_FILE = "best_hyperparameters.txt"  # TFX Tuner's best trial (a keras_tuner.HyperParameters config)
TUNER_RESULTS_FILE = "tuner_results.json"  # TFX Tuner's completed trials, best first
TUNER_LOGS_DIR = "logs"  # the trials' TensorBoard logs, inside the Tuner's tuner_results artifact
TUNER_LOG_DIR_ENV = "MODELFAB_TUNER_LOG_DIR"  # where tuner_fn's trials write them (set by components.hparam_tuner)
ONNX_REPORT_FILE = "onnx_export.json"  # inference/onnx_export.py
COMPRESSION_REPORT_FILE = "compression.json"  # the Quantizer's report, inside its TFLiteModel artifact
SPANS_PROPERTY = "modelfab_spans"  # the Examples artifact's span numbers, "3,4,5" (components/span_inputs.py)
DRIFT_REPORT_FILE = "drift.json"  # the DriftGate's checks, inside its DriftReport artifact
PREDICTIONS_FILE = "predictions.jsonl"  # the BatchInference step's JSON Lines, inside its InferenceResult artifact
