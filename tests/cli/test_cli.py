"""The `modelfab` command: fast help, clear one-line errors that name the bad input, nothing written on failure."""
import os
import subprocess
import sys

import pytest

from conftest import REPO, write_image
from cli import main as cli
from cli import run

MODELFAB = [sys.executable, "-m", "cli.main"]


def test_help_answers_without_importing_tensorflow():
  result = subprocess.run(MODELFAB + ["--help"], capture_output=True, text=True, cwd=REPO, timeout=60, check=True)
  assert "run" in result.stdout and "predict" in result.stdout
  probe = subprocess.run([sys.executable, "-c", "import sys; from cli import main as cli; "
                          "cli.build_parser(); print('tensorflow' in sys.modules, 'tfx' in sys.modules)"],
                         capture_output=True, text=True, cwd=REPO, timeout=60, check=True)
  assert probe.stdout.split() == ["False", "False"]


def test_corrupt_image_stops_run_before_anything_is_written(tmp_path, capsys):
  write_image(tmp_path / "data" / "a" / "ok.png")
  (tmp_path / "data" / "b").mkdir()
  (tmp_path / "data" / "b" / "bad.png").write_bytes(b"not an image")
  output = tmp_path / "out"
  assert cli.main(["run", "--data", str(tmp_path / "data"), "--output", str(output)]) == cli.EXIT_USAGE
  err = capsys.readouterr().err
  assert "bad.png" in err and "corrupt or not an image" in err
  assert not output.exists()


def test_missing_data_path_exits_nonzero_in_a_subprocess(tmp_path):
  result = subprocess.run(MODELFAB + ["run", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
  assert result.returncode == cli.EXIT_USAGE
  assert f"data path does not exist: {tmp_path / 'missing'}" in result.stderr
  assert "Traceback" not in result.stderr


def test_single_class_folder_is_refused(tmp_path, capsys):
  write_image(tmp_path / "data" / "only" / "x.png")
  assert cli.main(["run", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "o")]) == cli.EXIT_USAGE
  assert "only one class" in capsys.readouterr().err


def test_bad_numbers_are_refused(tmp_path, capsys):
  assert cli.main(["run", "--eval-percent", "0", "--output", str(tmp_path)]) == cli.EXIT_USAGE
  assert "--eval-percent" in capsys.readouterr().err
  assert cli.main(["run", "--epochs", "0", "--output", str(tmp_path)]) == cli.EXIT_USAGE


def test_predict_names_missing_model_and_bad_image(tmp_path, capsys):
  image = write_image(tmp_path / "x.png")
  assert cli.main(["predict", "--model", str(tmp_path / "nomodel"), str(image)]) == cli.EXIT_USAGE
  assert "nomodel" in capsys.readouterr().err
  (tmp_path / "empty_model").mkdir()
  assert cli.main(["predict", "--model", str(tmp_path / "empty_model"), str(image)]) == cli.EXIT_USAGE
  assert "no SavedModel" in capsys.readouterr().err
  bad = tmp_path / "bad.jpg"
  bad.write_bytes(b"nope")
  assert cli.main(["predict", "--model", str(tmp_path / "empty_model"), str(bad)]) == cli.EXIT_USAGE
  assert "bad.jpg" in capsys.readouterr().err
  assert cli.main(["predict", "--model", str(tmp_path), str(tmp_path / "absent.png")]) == cli.EXIT_USAGE
  assert "absent.png" in capsys.readouterr().err


def test_config_from_args_maps_flags():
  args = cli.build_parser().parse_args(["run", "--epochs", "3", "--strategy", "mirrored", "--beam-arg=--x=1",
                                        "--no-cache", "--image-size", "16"])
  config = run.config_from_args(args)
  assert config.hparams["epochs"] == 3 and config.hparams["image_size"] == 16
  assert config.strategy == "mirrored" and config.beam_args[-1] == "--x=1" and not config.enable_cache
  assert os.path.basename(config.data) == "digits"


def test_precision_flags(tmp_path, capsys, digits_subset):
  parse = lambda *flags: run.config_from_args(cli.build_parser().parse_args(["run", *flags]))
  assert "precision" not in parse().hparams or parse().hparams["precision"] is None  # auto, chosen by the Trainer
  assert parse("--precision", "bfloat16").hparams["precision"] == "bfloat16"
  assert parse("--mixed-precision").hparams["precision"] == "float16"  # the older flag, kept as an alias
  assert cli.main(["run", "--mixed-precision", "--precision", "bfloat16"]) == cli.EXIT_USAGE
  assert "contradicts --precision bfloat16" in capsys.readouterr().err
  with pytest.raises(SystemExit) as exited:  # argparse's own refusal
    cli.main(["run", "--precision", "int8"])
  assert exited.value.code == cli.EXIT_USAGE and "invalid choice: 'int8'" in capsys.readouterr().err
  output = tmp_path / "out"  # float16 on a machine without a GPU (CI's): refused before anything is written
  assert cli.main(["run", "--data", str(digits_subset), "--precision", "float16", "--output", str(output)]) == \
      cli.EXIT_USAGE
  assert "--precision float16 needs a GPU" in capsys.readouterr().err
  assert not output.exists()


def test_predict_batch_exit_statuses(tmp_path, capsys, trained_image_model):
  _, _, export_dir, raw, _ = trained_image_model
  folder = tmp_path / "in"
  for i, example in enumerate(raw[:6]):
    (folder / "x").mkdir(parents=True, exist_ok=True)
    (folder / "x" / f"{i}.png").write_bytes(example["image"])
  out = tmp_path / "p.jsonl"
  assert cli.main(["predict", "--model", str(export_dir), "--batch", str(folder)]) == cli.EXIT_USAGE
  assert "--batch needs --output-file" in capsys.readouterr().err
  assert cli.main(["predict", "--model", str(export_dir), "--output-file", str(out)]) == cli.EXIT_USAGE
  assert cli.main(["predict", "--model", str(tmp_path / "none"), "--batch", str(folder), "--output-file",
                   str(out)]) == cli.EXIT_USAGE
  assert "no such model directory" in capsys.readouterr().err
  assert cli.main(["predict", "--model", str(export_dir), "--batch", str(folder), "--output-file", str(out)]) == 0
  assert capsys.readouterr().out.startswith(f"predicted 6 examples in ")
  (folder / "x" / "bad.png").write_bytes(b"")
  assert cli.main(["predict", "--model", str(export_dir), "--batch", str(folder), "--output-file", str(out)]) == 1
  err = capsys.readouterr().err
  assert "x/bad.png: " in err and "1 example(s) could not be predicted" in err
  assert len(out.read_text().splitlines()) == 7


@pytest.mark.parametrize("flags, message", [
    (["--dp-l2-clip", "1", "--dp-noise-multiplier", "-1"], "--dp-noise-multiplier -1: must be 0 or more"),
    (["--dp-l2-clip", "0", "--dp-noise-multiplier", "1"], "--dp-l2-clip 0: the clip norm must be above 0"),
    (["--dp-l2-clip", "1", "--dp-noise-multiplier", "1", "--dp-microbatches", "5"],
     "--dp-microbatches 5: must divide the batch size 32"),
    (["--dp-l2-clip", "1", "--dp-target-epsilon", "0.001", "--epochs", "50"],
     "--dp-target-epsilon 0.001: not reachable"),
    (["--max-epsilon", "2"], "--max-epsilon needs DP-SGD training"),
    (["--dp-l2-clip", "1", "--dp-noise-multiplier", "1", "--tune"], "DP-SGD and --tune exclude each other"),
    (["--dp-l2-clip", "1", "--dp-noise-multiplier", "1", "--strategy", "mirrored"], "DP-SGD trains on one replica"),
])
def test_dp_settings_that_cannot_work_stop_the_run_before_anything_is_written(tmp_path, capsys, digits_subset,
                                                                            flags, message):
  output = tmp_path / "out"
  assert cli.main(["run", "--data", str(digits_subset), "--output", str(output), *flags]) == cli.EXIT_USAGE
  assert message in capsys.readouterr().err
  assert not output.exists()
