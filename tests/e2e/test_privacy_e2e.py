"""End to end: a DP-SGD run on digits records the privacy it spent (the epsilon dp-accounting gives for its steps,
sampling rate and noise), `--max-epsilon` below it refuses to bless and push, the membership-inference AUC is in
the summary and the report. Real TFX components on real Beam."""
import json

import dp_accounting
import pytest
from dp_accounting import rdp

from cli import main as cli
from conftest import copy_digits_subset
from inference import run_summary

pytestmark = pytest.mark.e2e


def test_dp_sgd_run_accounts_for_its_privacy_and_max_epsilon_gates_the_push(tmp_path, capsys):
  data = copy_digits_subset(tmp_path / "digits", per_class=12)
  output = tmp_path / "out"
  common = ["run", "--data", str(data), "--output", str(output), "--epochs", "3", "--min-accuracy", "0",
            "--quantize", "none", "--no-export-onnx", "--dp-l2-clip", "1.0", "--dp-noise-multiplier", "1.1"]
  assert cli.main(common + ["--max-epsilon", "0.5"]) == 0
  out = capsys.readouterr().out
  assert "privacy: epsilon" in out and "membership inference: AUC" in out
  assert "blessed: NO (privacy: the model spent epsilon" in out and "more than --max-epsilon 0.5" in out
  assert "pushed: no" in out and not (output / "serving").exists()

  assert cli.main(["runs", "--output", str(output), "--json"]) == 0
  [run] = json.loads(capsys.readouterr().out)
  spent = run["privacy"]
  assert spent["noise_multiplier"] == 1.1 and spent["l2_clip"] == 1.0 and spent["microbatches"] == 32
  train_examples = round(32 / spent["sampling_rate"])
  assert spent["steps"] == 3 * (train_examples // 32)  # the steps really taken
  assert spent["delta"] == pytest.approx(10.0 ** -len(str(train_examples)))  # 1/N rounded down to a power of 10
  accountant = rdp.RdpAccountant()
  accountant.compose(dp_accounting.SelfComposedDpEvent(
      dp_accounting.PoissonSampledDpEvent(spent["sampling_rate"], dp_accounting.GaussianDpEvent(1.1)), spent["steps"]))
  assert spent["epsilon"] == pytest.approx(accountant.get_epsilon(spent["delta"]), rel=0.01)
  assert spent["epsilon"] > 0.5 and run["blessed"] is False and run["privacy_refusal"].startswith("privacy: ")
  assert 0.0 <= run["membership_inference"]["auc"] <= 1.0
  [recorded] = run_summary.list_runs(str(output / "metadata.sqlite"))
  blessing = recorded.outputs["ServingCheck"]["blessing"][0].custom_properties  # in ML Metadata
  assert blessing["privacy_epsilon"].double_value == pytest.approx(spent["epsilon"])
  assert blessing["privacy_refused"].int_value == 1

  # The same model (the Trainer comes from the cache) under a budget it fits: blessed and pushed.
  assert cli.main(common + ["--max-epsilon", str(spent["epsilon"] + 1)]) == 0
  out = capsys.readouterr().out
  assert "blessed: yes" in out and "pushed to:" in out
  assert cli.main(["report", "--output", str(output), "--report-dir", str(tmp_path / "report")]) == 0
  page = (tmp_path / "report" / "report.html").read_text()
  assert "<h2>Privacy</h2>" in page and "membership inference AUC" in page and "epsilon spent" in page
