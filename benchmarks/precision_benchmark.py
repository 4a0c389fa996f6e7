"""Training precision: float32 against bfloat16 (and float16 where a GPU is present), for both tasks.

  python benchmarks/precision_benchmark.py [--images 20000] [--epochs 3] [--precisions float32,bfloat16]
                                           [--bert-checkpoint DIR] [--bert-steps 8] [--write-results]

1. CIFAR size: `modelfab run` on the generated CIFAR-10-sized set (benchmarks/cifar_benchmark.py) once per
   precision: wall time, fit throughput, eval accuracy, and the precision the run recorded. Then once with the
   default (`auto`) to show what it picks on this machine.
2. MiniLM size (with --bert-checkpoint, e.g. all-MiniLM-L6-v2): the text task's model built by the Trainer's own
   code (models.training.compiled_model) in each precision, fine-tuned on the embedded reviews tokenized to 64
   tokens, batch 16: sequences/s over --bert-steps steps after one warm-up step, and the loss reached.
The machine's CPU flags that matter (avx512f, avx512_bf16, amx_bf16) are printed and written with the results.
Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cifar_benchmark  # noqa: E402  # pylint: disable=wrong-import-position
import results  # noqa: E402  # pylint: disable=wrong-import-position

FLAGS_SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags_line() -> str:
  from models import precision  # pylint: disable=g-import-not-at-top

  flags = precision.cpu_flags()
  return ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in FLAGS_SHOWN)


def image_runs(images: int, epochs: int, work: str, precisions: List[str]) -> Dict[str, Dict]:
  data = cifar_benchmark.make_image_folder(os.path.join(work, "data"), images)
  found = {}
  for name in precisions:
    cifar_benchmark.warm_imports(cifar_benchmark.MODELFAB_IMPORTS)
    extra = [] if name == "auto" else ["--precision", name]
    os.makedirs(os.path.join(work, name), exist_ok=True)
    result = cifar_benchmark.run_modelfab(data, epochs, 32, os.path.join(work, name), "digits-cnn", extra)
    log = open(os.path.join(work, name, "modelfab.log"), encoding="utf-8").read()
    chosen = re.search(r"training precision: (\S+) \((.*)\)$", log, re.M)
    found[name] = {k: result.get(k) for k in ("wall_s", "examples_per_s", "eval_accuracy", "pushed", "rc")}
    found[name]["recorded"] = f"{chosen.group(1)} ({chosen.group(2)})" if chosen else "-"
    print(name, json.dumps(found[name]), flush=True)
  return found


def bert_runs(checkpoint: str, steps: int, precisions: List[str]) -> Dict[str, Dict]:
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from models import bert_tokenization, precision, text_bert, training  # pylint: disable=g-import-not-at-top

  with open(os.path.join(cifar_benchmark.REPO, "data", "reviews", "reviews.csv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  hp = text_bert.hparams_from({"hparams": {"bert_checkpoint": checkpoint, "max_seq_length": 64}})
  batch = 16
  tokens = bert_tokenization.BertInputs(os.path.join(checkpoint, "vocab.txt"), 64,
                                        lower_case=text_bert.tokenizer_lower_case(hp))(
                                            tf.constant([r["text"] for r in rows]))
  labels = np.array([r["label"] == "positive" for r in rows], dtype=np.int64)
  x = {k: v.numpy() for k, v in tokens.items()}
  found = {}
  for name in precisions:
    choice = precision.Choice(name, "benchmark")
    tf.keras.utils.set_random_seed(0)
    model = training.compiled_model(text_bert, hp, 2, steps + 1, 1, choice)
    first = {k: v[:batch] for k, v in x.items()}
    model.train_on_batch(first, labels[:batch])  # traces the step
    started = time.time()
    for step in range(steps):
      index = np.arange(step * batch, (step + 1) * batch) % len(labels)
      loss = model.train_on_batch({k: v[index] for k, v in x.items()}, labels[index])
    seconds = time.time() - started
    found[name] = {"sequences_per_s": round(steps * batch / seconds, 2), "loss": round(float(np.ravel(loss)[0]), 4)}
    print(name, json.dumps(found[name]), flush=True)
  return found


def ratio(found: Dict[str, Dict], key: str, name: str, base: str = "float32") -> str:
  try:
    return f"{found[name][key] / found[base][key]:.2f}"
  except (KeyError, TypeError, ZeroDivisionError):
    return "-"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=20000)
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--precisions", default="float32,bfloat16")
  parser.add_argument("--work", default="/tmp/modelfab-precision-benchmark")
  parser.add_argument("--bert-checkpoint", help="a MiniLM-sized BERT checkpoint (Hugging Face files)")
  parser.add_argument("--bert-steps", type=int, default=8)
  parser.add_argument("--skip-images", action="store_true")
  parser.add_argument("--write-results", action="store_true")
  args = parser.parse_args()
  precisions = args.precisions.split(",")
  print("CPU flags:", cpu_flags_line(), flush=True)
  images = {} if args.skip_images else image_runs(args.images, args.epochs, args.work, precisions + ["auto"])
  bert = bert_runs(args.bert_checkpoint, args.bert_steps, precisions) if args.bert_checkpoint else {}
  json.dump({"images": images, "bert": bert}, sys.stdout, indent=1)
  if not args.write_results:
    return
  body = [f"CPU flags: {cpu_flags_line()}.", ""]
  if images:
    body += [f"`modelfab run` on the generated CIFAR-10-sized set, {args.images:,} images, {args.epochs} epochs, "
             "batch 32, one run each:", "",
             results.table(["precision", "wall", "fit examples/s (ratio to float32)", "eval accuracy",
                            "recorded by the run"],
                           [[name, f"{r['wall_s']} s", f"{r['examples_per_s']} ({ratio(images, 'examples_per_s', name)})",
                             f"{r['eval_accuracy']:.4f}" if r.get("eval_accuracy") is not None else "-",
                             r["recorded"]] for name, r in images.items()]), ""]
  if bert:
    body += [f"Fine-tuning steps of the text task's model on {os.path.basename(args.bert_checkpoint.rstrip('/'))}"
             f" (64 tokens, batch 16, {args.bert_steps} steps after a warm-up step):", "",
             results.table(["precision", "sequences/s (ratio to float32)", "loss after the steps"],
                           [[name, f"{r['sequences_per_s']} ({ratio(bert, 'sequences_per_s', name)})", r["loss"]]
                            for name, r in bert.items()]), ""]
  command = (f"python benchmarks/precision_benchmark.py --images {args.images} --epochs {args.epochs} "
             f"--precisions {args.precisions}" + (" --bert-checkpoint DIR" if bert else "") + " --write-results")
  results.write_section("precision", "Training precision: float32 and bfloat16", command, "\n".join(body))


if __name__ == "__main__":
  main()
