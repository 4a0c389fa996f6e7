"""`modelfab label`, `promote`, `rollback` and the rollout flags of `serve` and `run`: listings, the TF Serving
config, and bad input (one error line, exit 2, labels unchanged)."""
import json

import pytest

from cli import main as cli
from core import version_labels

MODEL = "m"


@pytest.fixture
def output(tmp_path):
  for version in (100, 200):
    folder = tmp_path / "serving" / MODEL / str(version)
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
  return tmp_path


def test_label_sets_lists_and_writes_tf_servings_config(output, capsys):
  assert cli.main(["label", "--output", str(output), "stable=100", "canary=200"]) == 0
  assert "labels canary=200, stable=100" in capsys.readouterr().out
  assert cli.main(["label", "--output", str(output), "--json"]) == 0
  listing = json.loads(capsys.readouterr().out)
  assert [(v["version"], v["labels"]) for v in listing["versions"]] == [(200, ["canary"]), (100, ["stable"])]
  config = output / "models.config"
  assert cli.main(["label", "--output", str(output), "--tf-serving-config", str(config)]) == 0
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=g-import-not-at-top

  parsed = text_format.Parse(config.read_text(), model_server_config_pb2.ModelServerConfig())
  [entry] = parsed.model_config_list.config
  assert entry.name == MODEL and entry.base_path == str(output / "serving" / MODEL)
  assert dict(entry.version_labels) == {"stable": 100, "canary": 200}
  assert list(entry.model_version_policy.specific.versions) == [100, 200]
  assert cli.main(["label", "--output", str(output), "--remove", "canary"]) == 0
  assert version_labels.read_labels(str(output / "serving" / MODEL)).labels == {"stable": 100}


@pytest.mark.parametrize("argv,message", [
    (["label", "stable=999"], "has no version 999"),
    (["label", "stable"], "expected LABEL=VERSION"),
    (["label", "Bad=100"], "invalid label 'Bad'"),
    (["label", "--remove", "shadow"], "has no label 'shadow'"),
    (["label", "--model", "nope"], "no such model"),
    (["rollback"], "no earlier stable version"),
    (["promote"], "no canary to promote"),
])
def test_bad_label_commands_exit_2_and_change_nothing(output, capsys, argv, message):
  (output / "metadata.sqlite").write_bytes(b"")  # promote looks for the store before anything else
  assert cli.main(["label", "--output", str(output), "stable=100"]) == 0
  before = (output / "serving" / MODEL / version_labels.LABELS_FILE).read_text()
  capsys.readouterr()
  assert cli.main(argv[:1] + ["--output", str(output)] + argv[1:]) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1
  assert (output / "serving" / MODEL / version_labels.LABELS_FILE).read_text() == before


@pytest.mark.parametrize("argv,message", [
    (["serve", "--canary-percent", "120"], "--canary-percent must be between 0 and 100"),
    (["serve", "--max-examples", "0"], "--max-examples"),
    (["run", "--push-label", "Canary!"], "--push-label 'Canary!'"),
])
def test_bad_rollout_flags_exit_2(output, capsys, argv, message):
  assert cli.main(argv[:1] + ["--output", str(output)] + argv[1:]) == 2
  assert message in capsys.readouterr().err
