"""`modelfab watch`: its flags, the run it starts (the same settings), and its errors."""
import pytest

from cli import main as cli
from cli import watch
from core.errors import UsageError


@pytest.mark.parametrize("value, seconds", [("90", 90), ("30s", 30), ("10m", 600), ("1.5h", 5400)])
def test_intervals(value, seconds):
  assert watch.parse_interval(value) == seconds


@pytest.mark.parametrize("value", ["0", "ten", "5d", "-1m", ""])
def test_bad_intervals_name_the_flag(value):
  with pytest.raises(UsageError, match="--every"):
    watch.parse_interval(value)


def test_the_run_it_starts_has_the_same_settings():
  parser = cli.build_parser()
  args = parser.parse_args(["watch", "--data", "in/span-{SPAN}", "--spans", "3", "--output", "out", "--epochs", "4",
                            "--allow-drift", "--no-export-onnx", "--beam-arg=--a=1", "--beam-arg=--b", "--once",
                            "--every", "1m", "--labels", "labels.csv", "--preset", "digits-cnn"])
  argv = watch.run_argv(args.parser, args)
  assert argv == ["--data", "in/span-{SPAN}", "--spans", "3", "--allow-drift", "--epochs", "4", "--no-export-onnx",
                  "--beam-arg=--a=1", "--beam-arg=--b", "--output", "out"]
  rerun = parser.parse_args(["run"] + argv)
  for name in ("data", "spans", "allow_drift", "epochs", "export_onnx", "beam_arg", "output", "preset"):
    assert getattr(rerun, name) == getattr(args, name), name


def test_watch_needs_a_span_pattern_and_good_settings(tmp_path, capsys):
  assert cli.main(["watch", "--data", str(tmp_path), "--output", str(tmp_path / "o"), "--once"]) == cli.EXIT_USAGE
  assert "needs a span pattern" in capsys.readouterr().err
  assert cli.main(["watch", "--data", str(tmp_path / "span-{SPAN}"), "--once", "--every", "soon"]) == cli.EXIT_USAGE
  assert "--every" in capsys.readouterr().err
  assert cli.main(["watch", "--data", str(tmp_path / "span-{SPAN}"), "--once", "--spans", "0"]) == cli.EXIT_USAGE
  assert "--spans" in capsys.readouterr().err
  assert cli.main(["watch", "--data", str(tmp_path / "span-{SPAN}"), "--output", str(tmp_path / "o"),
                   "--once"]) == cli.EXIT_USAGE
  assert "no folder matches" in capsys.readouterr().err
  assert cli.main(["watch", "--data", str(tmp_path / "span-{SPAN}"), "--output", str(tmp_path / "o"), "--once",
                   "--labels", str(tmp_path / "labels.csv")]) == cli.EXIT_USAGE
  assert f"--labels {tmp_path / 'labels.csv'}: no such file" in capsys.readouterr().err
  assert not (tmp_path / "o").exists()  # nothing written
