"""Pipeline overhead at CIFAR-10 scale: `modelfab run` and the plain Keras script side by side, in one run.

  python benchmarks/cifar_benchmark.py [--images 20000] [--epochs 3] [--work DIR] [--preset digits-cnn]
                                       [--modelfab-arg ARG ...] [--skip-plain] [--json FILE]
  python benchmarks/cifar_benchmark.py --make-data DIR [--images N]   # only the image set
  python benchmarks/cifar_benchmark.py --beam-sizes 100000,200000      # the Beam default's measurement (4.)

1. Makes a CIFAR-10-sized ImageFolder set (`make_image_folder`): 32x32 RGB PNGs, 10 classes (5 shapes x 2 colour
   families, random position, size, hue and noise), generated here with a fixed seed; nothing is downloaded.
2. Runs the plain Keras script (benchmarks/plain_keras_cifar.py: image_dataset_from_directory, Normalization.adapt,
   the same model, epochs, batch size and augmentation; fit, evaluate, save) and `modelfab run --data DIR
   --image-size 32 --channels 3 --epochs E` (every pipeline feature on: validation, Transform graph in the
   signature, TFMA, ServingCheck, push; the .tflite step is off unless --modelfab-arg=--quantize=int8, since the
   script makes no .tflite) as separate processes, one after the other.
3. Reports for each: wall time (process start to exit); peak memory of the whole process tree (the sum of PSS, and
   the sum of RSS, which counts the TensorFlow libraries once per process; sampled every 0.1 s, also per stage);
   training examples/s during `fit`; eval accuracy; for modelfab the wall time of each component; and the ratios
   modelfab / plain.
4. With --beam-sizes: the whole pipeline at each size with Beam's DirectRunner in one process and multi-processing
   on all cores (what pipelines/config.py's AUTO_MULTI_PROCESSING_EXAMPLES chooses between), small model.
Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
SHAPES = ("square", "disc", "hbar", "vbar", "cross")


def make_image_folder(root: str, count: int, size: int = 32, seed: int = 0) -> str:
  """Writes `count` PNGs to root/<class>/<n>.png (10 classes, equal shares); returns root. Reuses a complete tree."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  marker = os.path.join(root, f".complete-{count}-{size}-{seed}")
  if os.path.exists(marker):
    return root
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[0:size, 0:size]
  for label in range(10):
    os.makedirs(os.path.join(root, f"class_{label}"), exist_ok=True)
  for n in range(count):
    label = n % 10
    shape, warm = SHAPES[label % 5], label < 5
    image = rng.normal(rng.uniform(60, 190, 3), 25, (size, size, 3))  # a noisy background of a random colour
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    r = rng.integers(size // 8, size // 4 + 1)
    mask = {"square": (abs(yy - cy) <= r) & (abs(xx - cx) <= r),
            "disc": (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r,
            "hbar": (abs(yy - cy) <= r // 3) & (abs(xx - cx) <= 2 * r),
            "vbar": (abs(xx - cx) <= r // 3) & (abs(yy - cy) <= 2 * r),
            "cross": ((abs(yy - cy) <= r // 3) | (abs(xx - cx) <= r // 3)) & (abs(yy - cy) <= r) & (abs(xx - cx) <= r),
            }[shape]
    colour = np.array([rng.uniform(180, 255), rng.uniform(40, 140), rng.uniform(0, 60)])  # warm: red-orange
    image[mask] = (colour if warm else colour[::-1]) + rng.normal(0, 15, (int(mask.sum()), 3))
    pixels = np.clip(image, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(os.path.join(root, f"class_{label}", f"{n:06d}.png"))
  open(marker, "w").close()
  return root


def _pss_bytes(pid: int) -> int:
  """Proportional set size: resident memory, with pages shared between processes (TensorFlow's libraries, mapped
  by the run and by its ServingCheck child) split between them instead of counted in full by each."""
  with open(f"/proc/{pid}/smaps_rollup") as f:
    return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))


def run_measured(command: List[str], log_path: str, env=None) -> Dict:
  """Runs `command` to completion: wall seconds; peak memory of its whole process tree (MiB), as the sum of PSS
  (what the tree really holds) and the sum of RSS (shared library pages counted once per process), overall and for
  each stage (a stage starts at each "[modelfab] NAME ..." line the command prints); exit code; stdout."""
  import psutil  # pylint: disable=g-import-not-at-top

  started = time.time()
  stage, peaks, lines = ["start"], {"pss": {}, "rss": {}}, []
  with open(log_path, "w") as log:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
                               env={**os.environ, **(env or {})})

    def sample():
      root = psutil.Process(process.pid)
      while process.poll() is None:
        try:
          tree = [root] + root.children(recursive=True)
          for kind, value in (("rss", sum(p.memory_info().rss for p in tree)),
                              ("pss", sum(_pss_bytes(p.pid) for p in tree))):
            peaks[kind][stage[0]] = max(peaks[kind].get(stage[0], 0), value)
        except (psutil.Error, OSError, StopIteration):
          pass
        time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for line in process.stdout:
      lines.append(line)
      started_stage = re.match(r"\[modelfab\] (\S+) \.\.\.$", line.rstrip())
      if started_stage:
        stage[0] = started_stage.group(1)
    process.wait()
    sampler.join()
    log.write("".join(lines))
  mib = lambda by_stage: {k: round(v / 2**20) for k, v in by_stage.items()}
  return {"wall_s": round(time.time() - started, 1),
          "peak_pss_mib": round(max(peaks["pss"].values(), default=0) / 2**20),
          "peak_rss_mib": round(max(peaks["rss"].values(), default=0) / 2**20),
          "peak_pss_mib_by_stage": mib(peaks["pss"]), "peak_rss_mib_by_stage": mib(peaks["rss"]),
          "rc": process.returncode, "stdout": "".join(lines)}


def component_seconds(stdout: str) -> Dict[str, float]:
  """Each component's wall time from `modelfab run`'s "[modelfab] NAME done in Xs" lines."""
  return {m.group(1): float(m.group(2)) for m in re.finditer(r"\[modelfab\] (\S+) done in ([\d.]+)s", stdout)}


def epoch_timing(stdout: str, fit_seconds) -> Dict:
  """Keras's per-epoch seconds (verbose=2 lines, whole seconds) and the part of `fit` outside them: the time between
  the last epoch and `fit` returning, where a deleted tf.data iterator can wait out its autotuning period (see
  models/input_pipeline.without_autotune_model); the plain script is exposed to it, modelfab is not."""
  epochs = [int(s) for s in re.findall(r"^\d+/\d+ - (\d+)s - ", stdout, flags=re.M)]
  if not epochs or fit_seconds is None:
    return {}
  return {"epoch_seconds": epochs, "fit_beyond_epochs_s": round(fit_seconds - sum(epochs), 1)}


# What each side imports (most of the files it reads at start-up). This machine's kernel pages out file pages not
# touched for 60 s (DAMON), so a side started after a pause reads its libraries from disk again: modelfab
# took 43 and 66 s to its first component so, against 6.7-8.4 s cached (measured). Each side's imports are read
# once, untimed, right before it runs (unless --cold).
PLAIN_IMPORTS = ["tensorflow", "tf_keras", "PIL.Image", "models.image_cnn", "pipelines.config"]
MODELFAB_IMPORTS = PLAIN_IMPORTS + [
    "cli.main", "pipelines.local_runner", "pipelines.pipeline", "pipelines.concurrent_runner",
    "apache_beam.runners.portability.fn_api_runner", "tensorflow_data_validation", "tensorflow_transform.beam",
    "tensorflow_model_analysis", "tfx.components.evaluator.executor", "tfx.components.transform.executor",
    "inference.model_check", "inference.model_loader", "inference.run_summary", "reports.tensorboard_logs"]


def warm_imports(modules: List[str]) -> float:
  """Imports `modules` in a throwaway process (so their files are in the page cache); returns the seconds taken."""
  started = time.time()
  subprocess.run([PYTHON, "-c", "import " + ", ".join(modules)], cwd=REPO, check=True, capture_output=True,
                 env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
  return round(time.time() - started, 1)


def run_plain(data: str, epochs: int, batch_size: int, work: str, preset: str) -> Dict:
  result = run_measured([PYTHON, os.path.join(REPO, "benchmarks", "plain_keras_cifar.py"), "--data", data,
                         "--epochs", str(epochs), "--batch-size", str(batch_size), "--preset", preset, "--out",
                         os.path.join(work, "plain-out")], os.path.join(work, "plain.log"))
  stdout = result.pop("stdout")
  lines = [line for line in stdout.splitlines() if line.startswith("{")]
  result.update(json.loads(lines[-1]) if lines else {})
  return {**result, **epoch_timing(stdout, result.get("fit_seconds"))}


def run_modelfab(data: str, epochs: int, batch_size: int, work: str, preset: str, extra: List[str]) -> Dict:
  import shutil  # pylint: disable=g-import-not-at-top

  output = os.path.join(work, "modelfab-out")
  shutil.rmtree(output, ignore_errors=True)
  result = run_measured([os.path.join(os.path.dirname(PYTHON), "modelfab"), "run", "--preset", preset,
                         "--data", data, "--image-size", "32", "--channels", "3", "--epochs", str(epochs),
                         "--batch-size", str(batch_size), "--quantize", "none", "--output", output] + extra,
                        os.path.join(work, "modelfab.log"))
  stdout = result.pop("stdout")
  components = component_seconds(stdout)
  fit = re.search(r"fit ([\d.]+)s, ([\d.]+) examples/s", stdout)
  summary = {}
  try:
    from core import names  # pylint: disable=g-import-not-at-top
    from core.layout import OutputLayout  # pylint: disable=g-import-not-at-top
    from inference import run_summary  # pylint: disable=g-import-not-at-top

    run = run_summary.latest_run_summary(OutputLayout(output).metadata_path, preset)
    summary = {"eval_accuracy": (run.metrics or {}).get(names.ACCURACY), "pushed": bool(run.pushed_to)}
  except Exception as e:  # pylint: disable=broad-except
    summary = {"summary_error": repr(e)}
  result = {**result, "components": components, **summary,
            **({"fit_seconds": float(fit.group(1)), "examples_per_s": float(fit.group(2))} if fit else {})}
  return {**result, **epoch_timing(stdout, result.get("fit_seconds"))}


def run_beam_mode(data: str, work: str, multi_processing: bool) -> Dict:
  """`modelfab run` with the DirectRunner in one process or multi-processing on all cores, whatever the data size
  (the threshold in pipelines/config.py is overridden in the child only). The model is kept small (8x8 grayscale,
  1 epoch), so the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) make most of the time."""
  import shutil  # pylint: disable=g-import-not-at-top

  output = os.path.join(work, "beam-out")
  shutil.rmtree(output, ignore_errors=True)
  threshold = 0 if multi_processing else 10**12
  args = ["run", "--data", data, "--image-size", "8", "--channels", "1", "--epochs", "1", "--quantize", "none",
          "--output", output]
  code = (f"import sys; from pipelines import config, cli; config.AUTO_MULTI_PROCESSING_EXAMPLES = {threshold}; "
          f"sys.exit(cli.main({args!r}))")
  result = run_measured([PYTHON, "-c", code], os.path.join(work, f"beam-{'multi' if multi_processing else 'one'}.log"))
  stdout = result.pop("stdout")
  components = component_seconds(stdout)
  beam = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator")
  return {**result, "components": components, "beam_components_s": round(sum(components.get(c, 0) for c in beam), 1),
          "mode": "multi_processing" if multi_processing else "one process"}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--images", type=int, default=20000)
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--preset", default="digits-cnn")
  parser.add_argument("--work", default="/tmp/modelfab-cifar-benchmark")
  parser.add_argument("--modelfab-arg", action="append", default=[], help="extra `modelfab run` argument")
  parser.add_argument("--skip-plain", action="store_true")
  parser.add_argument("--cold", action="store_true", help="do not read each side's imports before it runs")
  parser.add_argument("--json", help="also write the results here")
  parser.add_argument("--make-data", metavar="DIR", help="only write the generated image set to DIR and exit")
  parser.add_argument("--beam-sizes", help="instead: measure the Beam modes at these image counts, e.g. 100000,200000")
  args = parser.parse_args()
  if args.beam_sizes:
    sys.path.insert(0, REPO)
    results = {}
    for count in [int(n) for n in args.beam_sizes.split(",")]:
      data = make_image_folder(os.path.join(args.work, f"images-{count}"), count)
      for multi in (False, True):
        results[f"{count}/{'multi' if multi else 'one'}"] = run_beam_mode(data, args.work, multi)
        print(f"{count} images:", json.dumps(results[f"{count}/{'multi' if multi else 'one'}"]), flush=True)
    if args.json:
      with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    return
  if args.make_data:
    make_image_folder(args.make_data, args.images)
    print(f"{args.images} PNGs (32x32 RGB, 10 classes) in {args.make_data}")
    return
  sys.path.insert(0, REPO)
  os.makedirs(args.work, exist_ok=True)
  started = time.time()
  data = make_image_folder(os.path.join(args.work, f"images-{args.images}"), args.images)
  print(f"data: {args.images} PNGs in {data} ({time.time() - started:.0f}s)", flush=True)
  results = {"images": args.images, "epochs": args.epochs, "batch_size": args.batch_size, "preset": args.preset,
             "modelfab_args": args.modelfab_arg, "cores": os.cpu_count()}
  warm = {}
  if not args.skip_plain:
    warm["plain"] = None if args.cold else warm_imports(PLAIN_IMPORTS)
    results["plain"] = run_plain(data, args.epochs, args.batch_size, args.work, args.preset)
    print("plain:", json.dumps(results["plain"]), flush=True)
  warm["modelfab"] = None if args.cold else warm_imports(MODELFAB_IMPORTS)
  results["modelfab"] = run_modelfab(data, args.epochs, args.batch_size, args.work, args.preset, args.modelfab_arg)
  results["imports_warmed_s"] = warm
  print("modelfab:", json.dumps(results["modelfab"]), flush=True)
  if "plain" in results:
    plain, fab = results["plain"], results["modelfab"]
    ratio = lambda key: round(fab[key] / plain[key], 3) if fab.get(key) and plain.get(key) else None
    results["ratios"] = {"wall": ratio("wall_s"), "peak_pss": ratio("peak_pss_mib"), "peak_rss": ratio("peak_rss_mib"),
                         "examples_per_s": ratio("examples_per_s"),
                         "accuracy_diff": (round(fab["eval_accuracy"] - plain["eval_accuracy"], 4)
                                           if fab.get("eval_accuracy") is not None and plain.get("eval_accuracy")
                                           else None)}
    if "fit_beyond_epochs_s" in plain and "fit_beyond_epochs_s" in fab:
      # Each side at its own training speed, without the wait after the last epoch (a TensorFlow race, above).
      without_wait = lambda r: r["wall_s"] - max(0.0, r["fit_beyond_epochs_s"])
      results["ratios"]["wall_without_end_of_fit_wait"] = round(without_wait(fab) / without_wait(plain), 3)
      results["ratios"]["outside_fit_s"] = {"plain": round(plain["wall_s"] - plain["fit_seconds"], 1),
                                            "modelfab": round(fab["wall_s"] - fab["fit_seconds"], 1)}
    print("ratios (modelfab / plain):", json.dumps(results["ratios"]), flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
