"""`modelfab predict`: classify images or texts with a pushed model (SavedModel or .tflite)."""
from __future__ import annotations

import argparse

from cli.common import add_model_flag, check_image_files
from core.errors import UsageError


def register(sub, common: argparse.ArgumentParser) -> None:
  predict = sub.add_parser("predict", parents=[common],
                           help="classify images or texts with a pushed model (raw input through serving_default)")
  add_model_flag(predict)
  predict.add_argument("images", nargs="*", metavar="IMAGE", help="image files (image models)")
  predict.add_argument("--text", action="append", default=[], help="a text to classify (text models), repeatable")
  predict.add_argument("--text-file", help="a UTF-8 file with one text per line (text models)")
  predict.set_defaults(handler=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
  texts = list(args.text)
  if args.text_file:
    try:
      with open(args.text_file, encoding="utf-8") as f:
        texts += [line.rstrip("\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
      raise UsageError(f"{args.text_file}: cannot read as UTF-8 text ({e})") from e
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
