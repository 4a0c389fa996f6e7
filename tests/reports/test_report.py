"""`modelfab report`: the HTML page and PNG figures of a run, rendered in headless Chromium."""

import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from tensorflow_metadata.proto.v0 import statistics_pb2

from cli import main as cli
from reports import figures, report_data
from inference import run_summary

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _stats():
  stats = statistics_pb2.DatasetFeatureStatistics(num_examples=30)
  label = stats.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
  label.path.step.append("label")
  label.string_stats.common_stats.num_non_missing = 28
  label.string_stats.common_stats.num_missing = 2
  label.string_stats.unique = 2
  label.string_stats.avg_length = 3.0
  for name, count in (("cat", 20), ("dog", 8)):
    label.string_stats.top_values.add(value=name, frequency=count)
    label.string_stats.rank_histogram.buckets.add(label=name, sample_count=count)
  image = stats.features.add(type=statistics_pb2.FeatureNameStatistics.BYTES)  # a declared image: no unique count
  image.path.step.append("image")
  image.bytes_stats.common_stats.num_non_missing = 30
  image.bytes_stats.avg_num_bytes, image.bytes_stats.min_num_bytes, image.bytes_stats.max_num_bytes = 2900, 2500, 3300
  size = stats.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
  size.path.step.append("size")
  size.num_stats.common_stats.num_non_missing = 30
  size.num_stats.mean, size.num_stats.std_dev, size.num_stats.min, size.num_stats.max = 2.5, 0.5, 1.0, 4.0
  return stats


def test_feature_rows_and_label_counts_from_statistics():
  rows = {row["feature"]: row for row in report_data.feature_rows(_stats())}
  assert rows["label"]["type"] == "STRING" and rows["label"]["missing"] == "6.7%"
  assert "2 unique" in rows["label"]["summary"] and "cat (20)" in rows["label"]["summary"]
  assert rows["size"]["summary"] == "mean 2.5, std 0.5, min 1, max 4"
  assert rows["image"]["summary"] == "2900 bytes on average (min 2500, max 3300)" and rows["image"]["type"] == "BYTES"
  assert report_data.label_counts(_stats()) == {"cat": 20, "dog": 8}


def test_confusion_matrix_figure_is_a_png_of_the_class_grid():
  figure = figures.plot_confusion_matrix(np.array([[5.0, 1.0], [0.0, 4.0]]), ["cat", "dog"])
  assert figure.png.startswith(b"\x89PNG") and figure.name == "confusion_matrix"


def test_classes_sort_by_number_then_name():
  assert sorted(["10", "9", "b", "1", "a"], key=figures.natural_key) == ["1", "9", "10", "a", "b"]


def _report(output, run_id, tmp_path, capsys):
  report_dir = tmp_path / run_id.replace(":", "-")
  assert cli.main(["report", "--output", str(output), run_id, "--report-dir", str(report_dir)]) == 0
  assert capsys.readouterr().out.strip() == f"report: {report_dir / 'report.html'}"
  return report_dir


def test_report_of_blessed_run_has_figures_metrics_and_lineage(two_runs, tmp_path, capsys):
  output, run_ids = two_runs
  report_dir = _report(output, run_ids[0], tmp_path, capsys)
  for name in ("confusion_matrix", "training_curves", "per_class", "label_counts"):
    with Image.open(report_dir / f"{name}.png") as image:
      assert image.width > 200 and image.height > 150
  page = (report_dir / "report.html").read_text()
  summary = run_summary.find_run(str(output / "metadata.sqlite"), run_ids[0])
  assert f"{summary.metrics['sparse_categorical_accuracy']:.4f}" in page
  assert "id='verdict'>BLESSED<" in page and "SparseCategoricalAccuracy &gt;= 0.3" in page
  assert "train split:" in page and "eval split:" in page
  assert f"<td>training precision</td><td>{summary.precision['precision']} (auto: " in page
  for artifact in ("PushedModel", "Model", "TransformGraph", "Examples", "Schema"):
    assert f"{artifact} #" in page
  assert f"read from {output.parent / 'digits'}" in page  # lineage reaches the data ExampleGen read
  assert "src='data:image/png;base64," in page and "<link" not in page  # self-contained
  report = summary.compression  # float vs .tflite side by side: sizes, accuracy, latency, verdict
  assert f"{report['compressed']['bytes'] / 1024:,.0f} KiB" in page and f"{report['float']['bytes'] / 1024:,.0f} KiB" in page
  assert f"{report['compressed']['metrics']['sparse_categorical_accuracy']:.4f}" in page
  assert "id='compression-verdict'" in page and f"on {report['label_agreement']:.1%} of" in page
  with Image.open(report_dir / "compressed_confusion_matrix.png") as image:
    assert image.width > 200
  assert "<section id='model-card'>" in page
  assert "image_cnn classifier of 10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)" in page


def test_the_pushed_version_holds_a_model_card_valid_against_the_schema(two_runs):
  from reports import model_card  # pylint: disable=g-import-not-at-top

  output, run_ids = two_runs
  summary = run_summary.find_run(str(output / "metadata.sqlite"), run_ids[0])
  card = model_card.read_model_card(summary.pushed_to)
  assert card is not None and model_card.schema_errors(card) == []
  assert card["model_details"]["version"]["name"] == summary.pushed_version
  assert f"run {summary.run_id}" in card["model_details"]["documentation"]
  metrics = {(m["type"], m["slice"]): float(m["value"]) for m in card["quantitative_analysis"]["performance_metrics"]}
  assert metrics[("sparse_categorical_accuracy", "overall")] == pytest.approx(
      summary.metrics["sparse_categorical_accuracy"], abs=1e-4)
  assert {s for t, s in metrics if t == "recall"} == {f"class={d}" for d in range(10)}
  assert {d["name"] for d in card["model_parameters"]["data"]} == {"train split", "eval split"}
  assert (pathlib.Path(summary.pushed_to) / "model_card.html").is_file()


def test_report_of_rejected_run_shows_failed_check_and_baseline(two_runs, tmp_path, capsys):
  output, run_ids = two_runs
  page = (_report(output, run_ids[1], tmp_path, capsys) / "report.html").read_text()
  first = run_summary.find_run(str(output / "metadata.sqlite"), run_ids[0])
  assert "id='verdict'>NOT BLESSED<" in page and "Failed checks" in page
  assert f"Baseline: {first.output_uri('Trainer', 'model')}" in page
  assert "nothing pushed" in page


def test_report_of_unknown_run_is_a_usage_error(two_runs, capsys):
  output, _ = two_runs
  assert cli.main(["report", "--output", str(output), "1999-01-01"]) == cli.EXIT_USAGE
  assert "not found" in capsys.readouterr().err


def _chromium(*args, timeout=120):
  return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--hide-scrollbars", *args],
                        capture_output=True, text=True, timeout=timeout, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(two_runs, tmp_path, capsys):
  output, run_ids = two_runs
  report_dir = _report(output, run_ids[0], tmp_path, capsys)
  url = (report_dir / "report.html").as_uri()
  dom = _chromium("--dump-dom", url).stdout
  body = re.search(r"<body[^>]*>", dom).group(0)
  figures = int(re.search(r'data-figures="(\d+)"', body).group(1))
  assert figures == 10 and f'data-figures-drawn="{figures}"' in body  # every PNG decoded by the browser
  for figure_id in ("explanation-overlays", "grad-cam-overlays", "deletion-curves", "first-filters",
                    "activation-maps"):
    assert re.search(rf'<figure id="{figure_id}"><img', dom), figure_id
  assert re.search(r"explained \d+ examples \(\d+ misclassified\): attribution beats random in \d+", dom)
  compression = re.search(r'<table id="compression-table">(.*?)</table>', dom).group(1)
  assert "float SavedModel" in compression and "int8 .tflite" in compression and "batch-1 latency" in compression
  assert re.search(r'<figure id="compressed-confusion-matrix"><img', dom)
  matrix = re.search(r'<figure id="confusion-matrix"><img alt="Confusion matrix" src="data:image/png', dom)
  assert matrix, "the confusion matrix figure is not on the rendered page"
  per_class = re.search(r'<table id="per-class-metrics">(.*?)</table>', dom).group(1)
  assert per_class.count("<tr>") == 11  # header + 10 digits
  summary = run_summary.find_run(str(output / "metadata.sqlite"), run_ids[0])
  assert f"<td>{summary.metrics['macro_f1_score']:.4f}</td>" in dom
  screenshot = tmp_path / "page.png"
  _chromium("--window-size=1200,3000", f"--screenshot={screenshot}", url)
  with Image.open(screenshot) as image:
    pixels = np.asarray(image.convert("L"))
  assert pixels.shape == (3000, 1200) and (pixels < 100).mean() > 0.005  # text and figures drawn, not a blank page
  card_dom = _chromium("--dump-dom", (pathlib.Path(summary.pushed_to) / "model_card.html").as_uri()).stdout
  assert f"version {summary.pushed_version}</h1>" in card_dom
  card_rows = re.search(r'<table id="per-class-metrics">(.*?)</table>', card_dom, re.S).group(1)
  assert card_rows.count("<tr>") == 11  # header + 10 digits


def test_read_anomalies_names_the_feature_per_split(tmp_path):
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top

  anomalies = anomalies_pb2.Anomalies()
  anomalies.anomaly_info["label"].description = "Examples contain values missing from the schema: 9 (~10%)."
  (tmp_path / "Split-eval").mkdir()
  (tmp_path / "Split-eval" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
  (tmp_path / "Split-train").mkdir()
  (tmp_path / "Split-train" / "SchemaDiff.pb").write_bytes(anomalies_pb2.Anomalies().SerializeToString())
  assert report_data.read_anomalies(str(tmp_path)) == {
      "eval": ["label: Examples contain values missing from the schema: 9 (~10%)."], "train": []}


def test_the_overview_and_drift_sections_show_spans_checks_and_batch_inference():
  from inference import run_summary  # pylint: disable=g-import-not-at-top
  from reports import report  # pylint: disable=g-import-not-at-top

  drift = {"span": 5, "span_folder": "/in/span-5", "verdict": "drifted from the data version 3 was trained on "
           "(brightness jensen_shannon 0.910 > 0.2); trained anyway (--allow-drift)",
           "checks": [{"feature": "brightness", "measure": "jensen_shannon", "value": 0.91, "threshold": 0.2,
                       "alert": True},
                      {"feature": "label", "measure": "l_infinity", "value": 0.01, "threshold": 0.2, "alert": False}]}
  run = run_summary.RunSummary("r1", {"ImageExampleGen": "ran", "DriftGate": "ran"}, {}, True, "/s/m/7",
                               spans=[4, 5], drift=drift,
                               batch_inference={"predicted": 90, "failed": 0, "predictions": "/p.jsonl"})
  overview = report._overview_section(run)  # pylint: disable=protected-access
  assert "<td>spans</td><td>4, 5</td>" in overview and "90 predicted, 0 failed: /p.jsonl" in overview
  section = report._drift_section(run)  # pylint: disable=protected-access
  assert "span 5 (/in/span-5): drifted from the data version 3" in section
  assert re.search(r"<td>brightness</td><td>jensen_shannon</td><td>0\.910</td><td>0\.2</td><td>DRIFT</td>", section)
  stopped = run_summary.RunSummary("r2", {"DriftGate": "failed"}, {}, None, None)
  assert "failed (a gate that stops the run names" in report._drift_section(stopped)  # pylint: disable=protected-access


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_text_report_highlights_the_explained_words_in_headless_chromium(keyword_run, tmp_path, capsys):
  output, _, _ = keyword_run
  [run] = run_summary.list_runs(str(output / "metadata.sqlite"))
  report_dir = _report(output, run.run_id, tmp_path, capsys)
  dom = _chromium("--dump-dom", (report_dir / "report.html").as_uri()).stdout
  words = re.search(r'<table id="explanation-words">(.*?)</table>', dom, re.S).group(1)
  assert words.count("<tr>") == 1 + 16  # header + every explained text
  strengths = [float(a) for a in re.findall(r"background: ?rgba\(\d+, ?\d+, ?\d+, ?([\d.]+)\)", words)]
  assert strengths and max(strengths) == 1.0  # each text's most attributed word is fully coloured
  assert re.search(r'<figure id="deletion-curves"><img', dom)
  assert "activation-maps" not in dom and "explanation-overlays" not in dom  # no image figures for text
