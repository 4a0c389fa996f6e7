"""`modelfab label`, `promote` and `rollback`: version labels of a pushed model, and moving `stable` safely.

Labels live in `<output>/serving/<model>/version_labels.json` (core/version_labels.py); `modelfab serve` reads them
on every poll, so a change takes effect within its poll interval.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict

from cli import common
from cli.serve import since_time
from core import version_labels
from core.errors import LabelError, PromoteRefused, UsageError
from core.layout import OutputLayout


def register(sub, common_flags: argparse.ArgumentParser) -> None:
  label = sub.add_parser("label", parents=[common_flags],
                         help="list or set the version labels of a pushed model (stable, canary, ...)")
  _add_model_flag(label)
  label.add_argument("assignments", nargs="*", metavar="LABEL=VERSION", help="e.g. stable=1764770000 canary=...")
  label.add_argument("--remove", action="append", default=[], metavar="LABEL", help="remove a label, repeatable")
  label.add_argument("--tf-serving-config", metavar="FILE",
                     help="write the model_config_list (with version_labels) that TF Serving reads for these models")
  label.add_argument("--json", action="store_true", help="the listing as JSON")
  label.set_defaults(handler=cmd_label)

  promote = sub.add_parser("promote", parents=[common_flags],
                           help="move stable to the canary's version, after checking the canary (exit 4 if one fails)")
  _add_model_flag(promote)
  promote.add_argument("--labels", metavar="CSV", help="true labels that arrived: a CSV with request_id,label")
  promote.add_argument("--since", help="judge the canary's traffic since then: 2026-11-24T10:00 or 30m, 6h, 2d ago")
  promote.add_argument("--max-accuracy-drop", type=float, default=0.02,
                       help="how far the canary's live accuracy may fall below stable's (default: %(default)s)")
  promote.add_argument("--force", action="store_true", help="promote even when a check fails")
  promote.set_defaults(handler=cmd_promote)

  rollback = sub.add_parser("rollback", parents=[common_flags],
                            help="move stable back to the version it pointed to before")
  _add_model_flag(rollback)
  rollback.set_defaults(handler=cmd_rollback)


def _add_model_flag(parser: argparse.ArgumentParser) -> None:
  common.add_output_flag(parser)
  parser.add_argument("--model", help="a model under <output>/serving (default: the only one)")


def _model_dir(args: argparse.Namespace) -> str:
  models = common.pushed_models(args.output)
  if args.model is None and len(models) > 1:
    raise UsageError(f"{OutputLayout(args.output).serving_root} has {len(models)} models ({', '.join(models)}); "
                     "choose one with --model")
  args.model = args.model or models[0]
  common.check_model_name(args.output, args.model, models)
  return OutputLayout(args.output).serving_dir(args.model)


def _assignments(texts) -> Dict[str, int]:
  assignments = {}
  for text in texts:
    label, _, version = text.partition("=")
    if not version.strip().isdigit():
      raise LabelError(f"{text!r}: expected LABEL=VERSION, e.g. stable=1764770000")
    if label in assignments:
      raise LabelError(f"label {label!r} given twice")
    assignments[label.strip()] = int(version)
  return assignments


def _show(labels: version_labels.VersionLabels) -> str:
  return ", ".join(f"{k}={v}" for k, v in sorted(labels.labels.items())) or "none"


def cmd_label(args: argparse.Namespace) -> int:
  if args.tf_serving_config and not (args.assignments or args.remove):
    models = [args.model] if args.model else common.pushed_models(args.output)
    for name in models:
      common.check_model_name(args.output, name, common.pushed_models(args.output))
    from serving import tf_serving_config  # pylint: disable=g-import-not-at-top

    text = tf_serving_config.model_config_text(OutputLayout(args.output).serving_root, models)
    try:
      with open(args.tf_serving_config, "w", encoding="utf-8") as f:
        f.write(text)
    except OSError as e:
      raise UsageError(f"--tf-serving-config {args.tf_serving_config}: {e.strerror or e}") from e
    print(f"wrote {args.tf_serving_config} (TF Serving: --model_config_file={os.path.abspath(args.tf_serving_config)})")
    return 0
  if args.tf_serving_config:
    raise UsageError("--tf-serving-config writes the config only; set labels in a command of their own")
  model_dir = _model_dir(args)
  if args.assignments or args.remove:
    labels = version_labels.set_labels(model_dir, _assignments(args.assignments), args.remove)
    print(f"{args.model}: labels {_show(labels)}")
    return 0
  rows = version_labels.list_versions(model_dir)
  if args.json:
    print(json.dumps({"model": args.model, "versions": rows}, indent=2))
    return 0
  print(f"{'VERSION':<12} {'PUSHED':<20} LABELS")
  for row in rows:
    print(f"{row['version']:<12} {row['pushed']:<20} {', '.join(row['labels']) or '-'}")
  return 0


def cmd_promote(args: argparse.Namespace) -> int:
  model_dir = _model_dir(args)
  if args.labels and not os.path.isfile(args.labels):
    raise UsageError(f"{args.labels}: no such labels file")
  if not 0.0 <= args.max_accuracy_drop <= 1.0:
    raise UsageError(f"--max-accuracy-drop must be between 0 and 1, got {args.max_accuracy_drop}")
  common.metadata_path(args.output)
  from monitoring import rollout  # pylint: disable=g-import-not-at-top

  checks = rollout.promote_checks(args.output, args.model, args.labels, args.max_accuracy_drop,
                                  since_time(args.since))
  for check in checks:
    print(f"  {'ok' if check.passed else 'FAIL':<4} {check.name}: {check.detail}")
  failed = [c.name for c in checks if not c.passed]
  if failed and not args.force:
    raise PromoteRefused(f"not promoted: {'; '.join(failed)} (labels unchanged; --force promotes anyway)")
  before = version_labels.read_labels(model_dir).labels.get(version_labels.STABLE)
  labels = version_labels.promote(model_dir)
  print(f"{args.model}: stable {before if before is not None else '(none)'} -> {labels.labels['stable']}"
        + (" (forced past failed checks)" if failed else ""))
  if failed:
    print(f"modelfab: warning: promoted although {len(failed)} check(s) failed", file=sys.stderr)
  return 0


def cmd_rollback(args: argparse.Namespace) -> int:
  model_dir = _model_dir(args)
  before = version_labels.read_labels(model_dir).labels.get(version_labels.STABLE)
  labels = version_labels.rollback(model_dir)
  print(f"{args.model}: stable {before} -> {labels.labels['stable']}")
  return 0
