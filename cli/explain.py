"""`modelfab explain`: why a pushed model answered what it did (inference/explain.py, inference/explain_text.py)."""
from __future__ import annotations

import argparse
import json
import os

from cli.common import add_model_flag, check_image_files, read_texts
from core.errors import UsageError

HIGHLIGHTS_FILE = "explanations.html"  # --output-dir, text models: every text's words highlighted


def register(sub, common: argparse.ArgumentParser) -> None:
  explain = sub.add_parser("explain", parents=[common],
                           help="attribute a pushed model's answers to the pixels or words (integrated gradients)")
  add_model_flag(explain)
  explain.add_argument("images", nargs="*", metavar="IMAGE", help="image files (image models)")
  explain.add_argument("--text", action="append", default=[], help="a text to explain (text models), repeatable")
  explain.add_argument("--text-file", help="a UTF-8 file with one text per line (text models)")
  explain.add_argument("--method", default="integrated-gradients",
                       choices=("integrated-gradients", "xrai", "grad-cam"),
                       help="integrated gradients (pixels or words), XRAI (image regions ranked by integrated "
                            "gradients) or Grad-CAM (the last convolution; CNNs) (default: %(default)s)")
  explain.add_argument("--steps", type=int, default=64,
                       help="integration steps of integrated gradients and XRAI (default: %(default)s)")
  explain.add_argument("--json", action="store_true", help="print one JSON object with every explanation")
  explain.add_argument("--output-dir",
                       help=f"write an overlay PNG per image (<image name>.explain.png), or for texts "
                            f"{HIGHLIGHTS_FILE} with their words highlighted")
  explain.set_defaults(handler=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
  texts = read_texts(args)
  if bool(texts) == bool(args.images):
    raise UsageError("give image files, or texts with --text/--text-file, not both and not neither")
  if args.steps < 1:
    raise UsageError(f"--steps must be at least 1, got {args.steps}")
  check_image_files(args.images)
  from inference import model_loader  # pylint: disable=g-import-not-at-top

  model_loader.resolve_model_dir(args.model)  # a missing model is named before TensorFlow loads
  from inference import explain, explain_text  # pylint: disable=g-import-not-at-top

  if texts:
    found = explain_text.explain_texts(args.model, texts, steps=args.steps, method=args.method)
    if args.output_dir:
      explain_text.write_highlights(os.path.join(args.output_dir, HIGHLIGHTS_FILE), found)
  else:
    found = explain.explain_image_files(args.model, args.images, steps=args.steps, method=args.method)
    if args.output_dir:
      for item in found:
        with open(item["input"], "rb") as f:
          encoded = f.read()
        name = os.path.splitext(os.path.basename(item["input"]))[0] + ".explain.png"
        item["overlay"] = os.path.join(args.output_dir, name)
        explain.write_overlay(item["overlay"], encoded, item["attributions"])
  if args.json:
    print(json.dumps({"explanations": found}))
    return 0
  for item in found:
    deletion = item["deletion"]
    verdict = "beats" if deletion["attributed_area"] < deletion["random_area"] else "does not beat"
    shown = item["input"].replace("\t", " ")
    words = (f"\ttop words: {', '.join(explain_text.top_words(item['attributions']))}" if texts else "")
    completeness = (f"baseline {item['baseline_score']:.4f}, approximation error {item['approximation_error']:.1%}, "
                    if item["baseline_score"] is not None else "")
    print(f"{shown}\t{item['label']}\t{item['score']:.4f}{words}\t{item['method']}: {completeness}deletion "
          f"{verdict} random ({deletion['attributed_area']:.3f} vs {deletion['random_area']:.3f})"
          + (f"\toverlay {item['overlay']}" if "overlay" in item else ""))
  if texts and args.output_dir:
    print(f"highlighted words: {os.path.join(args.output_dir, HIGHLIGHTS_FILE)}")
  return 0
