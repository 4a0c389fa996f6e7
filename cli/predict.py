"""`modelfab predict`: classify images or texts with a pushed model (SavedModel or .tflite)."""
from __future__ import annotations

import argparse
import sys

from cli.common import add_model_flag, check_image_files, read_texts
from core import names
from core.errors import EXIT_FAILED, UsageError


def register(sub, common: argparse.ArgumentParser) -> None:
  predict = sub.add_parser("predict", parents=[common],
                           help="classify images or texts with a pushed model (raw input through serving_default)")
  add_model_flag(predict)
  predict.add_argument("images", nargs="*", metavar="IMAGE", help="image files (image models)")
  predict.add_argument("--text", action="append", default=[], help="a text to classify (text models), repeatable")
  predict.add_argument("--text-file", help="a UTF-8 file with one text per line (text models)")
  predict.add_argument("--batch", metavar="INPUT",
                       help="predict everything in INPUT on Beam: a folder of images, a CSV file or folder of them, "
                            "or TFRecords of tf.Examples (needs --output-file)")
  predict.add_argument("--output-file", metavar="FILE",
                       help="--batch: JSON Lines (id, label, score), or TF Serving PredictionLogs when FILE ends in "
                            ".tfrecord or .tfrecord.gz")
  predict.add_argument("--input-format", choices=names.DATA_FORMATS,
                       help="--batch: what INPUT holds (default: found from its files)")
  predict.add_argument("--text-column", default="text", help="--batch on CSV: the text column (default: text)")
  predict.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                       help="--batch: a Beam pipeline argument, repeatable (2 workers on one machine: "
                            "--beam-arg=--direct_running_mode=multi_threading --beam-arg=--direct_num_workers=2)")
  predict.set_defaults(handler=cmd_predict)


def cmd_batch(args: argparse.Namespace) -> int:
  """`predict --batch`: the counts and the first failures; exit 1 when any example failed."""
  if args.images or args.text or args.text_file:
    raise UsageError("--batch predicts everything in its INPUT; give no image files or --text with it")
  if not args.output_file:
    raise UsageError("--batch needs --output-file FILE (.jsonl, .tfrecord or .tfrecord.gz)")
  from inference import batch_predict  # pylint: disable=g-import-not-at-top
  from monitoring import outliers  # pylint: disable=g-import-not-at-top

  model_dir = batch_predict.check_model(args.model)
  result = batch_predict.predict_batch(model_dir, args.batch, args.output_file, args.input_format,
                                       args.text_column, args.beam_arg, outliers.scorer(model_dir))
  print(f"predicted {result.predicted:,} examples in {result.seconds:.1f}s ({result.examples_per_second:,.0f}/s): "
        f"{result.output_file}")
  if result.failed:
    for error in result.first_errors:
      print(f"modelfab: error: {error['id']}: {error['error']}", file=sys.stderr)
    where = result.errors_file or result.output_file
    print(f"modelfab: error: {result.failed:,} example(s) could not be predicted (listed in {where})",
          file=sys.stderr)
    return EXIT_FAILED
  return 0


def cmd_predict(args: argparse.Namespace) -> int:
  if args.batch or args.output_file:
    if not args.batch:
      raise UsageError("--output-file goes with --batch INPUT")
    return cmd_batch(args)
  texts = read_texts(args)
  if bool(texts) == bool(args.images):
    raise UsageError("give image files, or texts with --text/--text-file, not both and not neither")
  check_image_files(args.images)
  from inference import model_loader  # pylint: disable=g-import-not-at-top

  model_loader.resolve_model_dir(args.model)  # a missing model is named before TensorFlow loads
  from inference import predict  # pylint: disable=g-import-not-at-top

  model = model_loader.load_model(args.model)
  if args.images:
    rows = zip(args.images, predict.predict_images(model, args.images))
  else:
    rows = zip((t.replace("\t", " ") for t in texts), predict.predict_texts(model, texts))
  for name, (label, score) in rows:
    print(f"{name}\t{label}\t{score:.4f}")
  return 0
