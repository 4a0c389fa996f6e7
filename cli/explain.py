"""`modelfab explain`: why a pushed image model answered what it did (inference/explain.py)."""
from __future__ import annotations

import argparse
import json
import os

from cli.common import add_model_flag, check_image_files
from core.errors import UsageError


def register(sub, common: argparse.ArgumentParser) -> None:
  explain = sub.add_parser("explain", parents=[common],
                           help="attribute a pushed image model's answers to the pixels (integrated gradients)")
  add_model_flag(explain)
  explain.add_argument("images", nargs="*", metavar="IMAGE", help="image files")
  explain.add_argument("--method", default="integrated-gradients", choices=("integrated-gradients",),
                       help="attribution method (default: %(default)s)")
  explain.add_argument("--steps", type=int, default=64, help="integration steps (default: %(default)s)")
  explain.add_argument("--json", action="store_true", help="print one JSON object with every explanation")
  explain.add_argument("--output-dir", help="write an overlay PNG per image here (<image name>.explain.png)")
  explain.set_defaults(handler=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
  if not args.images:
    raise UsageError("give one or more image files to explain")
  if args.steps < 1:
    raise UsageError(f"--steps must be at least 1, got {args.steps}")
  check_image_files(args.images)
  from inference import model_loader  # pylint: disable=g-import-not-at-top

  model_loader.resolve_model_dir(args.model)  # a missing model is named before TensorFlow loads
  from inference import explain  # pylint: disable=g-import-not-at-top

  found = explain.explain_image_files(args.model, args.images, steps=args.steps)
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
    print(f"{item['input']}\t{item['label']}\t{item['score']:.4f}\tbaseline {item['baseline_score']:.4f}, "
          f"approximation error {item['approximation_error']:.1%}, deletion {verdict} random "
          f"({deletion['attributed_area']:.3f} vs {deletion['random_area']:.3f})"
          + (f"\toverlay {item['overlay']}" if "overlay" in item else ""))
  return 0
