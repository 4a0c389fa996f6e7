"""`modelfab report`: one self-contained HTML page (and its PNG figures) about one pipeline run.

Everything is read back from what the run recorded: ML Metadata for the runs, components and lineage; the
StatisticsGen and ExampleValidator artifacts for the data; the Trainer's TensorBoard logs for the curves; the TFMA
evaluation for metrics, the confusion matrix and the blessing decision. Figures are drawn with matplotlib and embedded
as PNG data URIs, so the page can be mailed or archived alone.
"""
from __future__ import annotations

import base64
import html
import os
import pathlib
from typing import List, Optional

from core import json_files, names
from core.layout import OutputLayout
from inference import eval_metrics, run_summary
from reports import figures as figures_lib
from reports import model_card, report_data
from reports.figures import Figure


def build_report(output: str, run_id: Optional[str] = None, report_dir: Optional[str] = None) -> str:
  """Writes `report.html` and the PNG figures for run `run_id` (default: the newest); returns the HTML path."""
  output = os.path.abspath(output)
  metadata_path = OutputLayout(output).metadata_path
  run = run_summary.find_run(metadata_path, run_id)
  report_dir = report_dir or os.path.join(OutputLayout(output).reports_dir, run.pipeline_name,
                                         run.run_id.replace(":", "-"))
  os.makedirs(report_dir, exist_ok=True)
  figures: List[Figure] = []
  sections: List[str] = [_overview_section(run)]

  statistics_uri = run.output_uri(names.STATISTICS_GEN, "statistics")
  anomalies_uri = run.output_uri(names.EXAMPLE_VALIDATOR, "anomalies")
  sections.append(_data_section(statistics_uri, anomalies_uri, figures))
  if run.drift or names.DRIFT_GATE in run.components:
    sections.append(_drift_section(run))

  model_run = run.output_uri(names.TRAINER, "model_run")
  curves = report_data.read_curves(model_run) if model_run and os.path.isdir(model_run) else {}
  figure = figures_lib.plot_training_curves(curves)
  if figure:
    figures.append(figure)
  sections.append(_section("Training", _figure_html(figure) if figure else "<p>No training logs recorded.</p>",
                           "training"))

  evaluation_uri = run.output_uri(names.EVALUATOR, "evaluation")
  sections.append(_evaluation_section(run, evaluation_uri, figures))
  sections.append(_blessing_section(run, evaluation_uri))
  explanations_uri = run.output_uri(names.EXPLAINER, "explanations")
  if explanations_uri:
    sections.append(_explanations_section(explanations_uri, figures))
  if run.privacy or run.membership_inference:
    sections.append(_privacy_section(run))
  if run.tuning:
    sections.append(_tuning_section(run))
  if run.compression:
    sections.append(_compression_section(run, figures))
  card = model_card.read_model_card(run.pushed_to) if run.pushed_to else None
  if card:
    sections.append(_model_card_section(card, run.pushed_to))
  sections.append(_lineage_section(run, metadata_path))

  for figure in figures:
    with open(os.path.join(report_dir, figure.name + ".png"), "wb") as f:
      f.write(figure.png)
  page = _PAGE.format(title=html.escape(f"modelfab run {run.run_id} ({run.pipeline_name})"),
                      body="\n".join(sections), figures=len(figures))
  path = os.path.join(report_dir, "report.html")
  with open(path, "w", encoding="utf-8") as f:
    f.write(page)
  return path


def _overview_section(run: run_summary.RunSummary) -> str:
  rows = [("run", run.run_id), ("pipeline", run.pipeline_name), ("started", run.started_text),
          ("blessed", {True: "yes", False: "no", None: "not evaluated"}[run.blessed]),
          ("pushed", run.pushed_to or "no")]
  if run.precision:
    rows.insert(3, ("training precision", f"{run.precision['precision']} ({run.precision['reason']})"))
  if run.spans:
    rows.insert(3, ("spans", ", ".join(str(n) for n in run.spans)))
  if run.batch_inference:
    inference = run.batch_inference
    rows.append(("batch inference", inference.get("reason") or f"{inference['predicted']:,} predicted, "
                 f"{inference['failed']:,} failed: {inference['predictions']}"))
  components = _table(["component", "this run"], [[name, state] for name, state in run.components.items()])
  return _section(f"Run {run.run_id}", _table(["", ""], rows, header=False) + components, "overview")


def _drift_section(run: run_summary.RunSummary) -> str:
  """The drift gate's verdict and checks (components/drift_gate.py); a gate that stopped the run left no report,
  its reason is the run's error."""
  if not run.drift:
    state = html.escape(run.components.get(names.DRIFT_GATE, "-"))
    return _section("Drift gate", f"<p>{state} (a gate that stops the run names each drifted feature and its "
                                  "distance in the run's error)</p>", "drift")
  drift = run.drift
  rows = [[c["feature"], c["measure"], f"{c['value']:.3f}", f"{c['threshold']:g}", "DRIFT" if c["alert"] else "ok"]
          for c in drift["checks"]]
  body = (f"<p>span {drift['span']} ({html.escape(drift['span_folder'])}): {html.escape(drift['verdict'])}</p>"
          + (_table(["feature", "measure", "value", "limit", ""], rows) if rows else ""))
  return _section("Drift gate", body, "drift")


def _data_section(statistics_uri: Optional[str], anomalies_uri: Optional[str], figures: List[Figure]) -> str:
  parts = []
  statistics = report_data.read_statistics(statistics_uri) if statistics_uri and os.path.isdir(statistics_uri) else {}
  for split, stats in statistics.items():
    rows = report_data.feature_rows(stats)
    parts.append(f"<h3>{html.escape(split)} split: {stats.num_examples} examples</h3>")
    parts.append(_table(["feature", "type", "missing", "summary"],
                        [[r["feature"], r["type"], r.get("missing", "-"), r.get("summary", "")] for r in rows]))
  figure = figures_lib.plot_label_counts({split: report_data.label_counts(stats)
                                          for split, stats in statistics.items()})
  if figure:
    figures.append(figure)
    parts.append(_figure_html(figure))
  anomalies = report_data.read_anomalies(anomalies_uri) if anomalies_uri and os.path.isdir(anomalies_uri) else {}
  parts.append("<h3>Anomalies</h3>")
  if not anomalies:
    parts.append("<p>ExampleValidator did not run.</p>")
  for split, lines in anomalies.items():
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>none</li>"
    parts.append(f"<p>{html.escape(split)} split:</p><ul class='anomalies'>{items}</ul>")
  return _section("Data", "".join(parts) or "<p>No statistics recorded.</p>", "data")


def _evaluation_section(run: run_summary.RunSummary, evaluation_uri: Optional[str], figures: List[Figure]) -> str:
  if not evaluation_uri or not run.metrics:
    return _section("Evaluation", "<p>The Evaluator did not run.</p>", "evaluation")
  metrics = run.metrics
  overall = [[name, _fmt(value)] for name, value in sorted(metrics.items()) if "/class_" not in name]
  class_ids = sorted({int(n.rsplit("_", 1)[1]) for n in metrics if "/class_" in n})
  num_classes = max(class_ids) + 1 if class_ids else 0
  class_names = report_data.read_class_names(run.output_uri(names.TRANSFORM, "transform_graph"), num_classes)
  # Label ids follow frequency; the classes are shown by name.
  class_ids.sort(key=lambda c: figures_lib.natural_key(class_names[c]))
  scores = ("precision", "recall", "f1_score")
  per_class_rows = [[class_names[c]] + [_fmt(metrics.get(f"{n}/class_{c}")) for n in scores] for c in class_ids]
  parts = [_table(["metric", "value"], overall, table_id="overall-metrics"),
           "<h3>Per class</h3>", _table(["class", "precision", "recall", "F1"], per_class_rows,
                                        table_id="per-class-metrics")]
  if class_ids:
    figure = figures_lib.plot_per_class({n: [metrics.get(f"{n}/class_{c}", 0.0) for c in class_ids] for n in scores},
                                        [class_names[c] for c in class_ids])
    figures.append(figure)
    parts.append(_figure_html(figure))
  matrix = eval_metrics.read_confusion_matrix(evaluation_uri, num_classes) if num_classes else None
  if matrix is not None:
    figure = figures_lib.plot_confusion_matrix(matrix[class_ids][:, class_ids], [class_names[c] for c in class_ids])
    figures.append(figure)
    parts.append("<h3>Confusion matrix</h3>" + _figure_html(figure, element_id="confusion-matrix"))
  return _section("Evaluation", "".join(parts), "evaluation")


def _blessing_section(run: run_summary.RunSummary, evaluation_uri: Optional[str]) -> str:
  if not evaluation_uri:
    return _section("Blessing", "<p>Not evaluated.</p>", "blessing")
  thresholds, failures = report_data.read_blessing(evaluation_uri)
  verdict = "BLESSED" if run.blessed else "NOT BLESSED"
  parts = [f"<p class='verdict {'good' if run.blessed else 'bad'}' id='verdict'>{verdict}</p>",
           "<p>Thresholds:</p><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in thresholds) + "</ul>",
           "<p>Baseline: " + html.escape(run.baseline_model or "none (no earlier blessed model)") + "</p>"]
  if failures:
    parts.append("<p>Failed checks:</p><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in failures) + "</ul>")
  parts.append(f"<p>Pusher: {html.escape(run.pushed_to) if run.pushed_to else 'nothing pushed'}</p>")
  return _section("Blessing", "".join(parts), "blessing")


def _explanations_section(explanations_uri: str, figures: List[Figure]) -> str:
  """The Explainer's verdict, the explained images with their attributions (or texts with their words highlighted),
  the mean deletion curves, and for CNNs the first filters and activation maps."""
  from inference import explain, explain_text  # pylint: disable=g-import-not-at-top

  report = json_files.read_json(explanations_uri, names.EXPLANATIONS_FILE)
  if not report:
    return _section("Explanations", "<p>The Explainer left no report.</p>", "explanations")
  body = f"<p>{html.escape(explain.describe_split(report))}</p>"
  rows = report.get("examples", [])
  texts = [row for row in rows if "text" in row]
  if texts:  # misclassified first, as the Explainer chose them
    body += ("<p>Integrated gradients on the word embeddings, merged to words: green words raised the predicted "
             "class's probability, red ones lowered it.</p>" + _table(
                 ["true", "predicted", "score", "words"],
                 [[html.escape(r["true_label"]), html.escape(r["label"]), f"{r['score']:.3f}",
                   explain_text.highlighted_words(r["attributions"])] for r in texts[:32]],
                 table_id="explanation-words", escape=False))
  for figure, element_id in ((figures_lib.plot_explanations(rows), "explanation-overlays"),
                             (figures_lib.plot_explanations(rows, key="grad_cam"), "grad-cam-overlays"),
                             (figures_lib.plot_deletion_curves(rows, "words" if texts else "pixels"),
                              "deletion-curves"),
                             (figures_lib.plot_filters(report.get("filters")), "first-filters"),
                             (figures_lib.plot_activation_maps(report.get("activations"),
                                                               report.get("activation_blocks")), "activation-maps")):
    if figure:
      figures.append(figure)
      body += _figure_html(figure, element_id)
  wrong = [[r["true_label"], r["label"], f"{r['score']:.3f}", f"{r['approximation_error']:.2%}",
            "yes" if r["beats_random"] else "no"] for r in rows if r["true_label"] != r["label"]]
  if wrong:
    body += "<h3>Misclassified</h3>" + _table(["true", "predicted", "score", "completeness error",
                                               "beats random"], wrong, table_id="misclassified-explained")
  return _section("Explanations", body, "explanations")


def _privacy_section(run: run_summary.RunSummary) -> str:
  """DP-SGD's settings and the privacy spent (models/privacy.py), --max-epsilon's verdict, and the
  membership-inference attack's result, which every run measures, with or without DP."""
  rows = []
  spent = run.privacy
  if spent:
    rows += [("epsilon spent", f"{spent['epsilon']:.4g} at delta {spent['delta']:g} ({spent['accountant']})"),
             ("DP-SGD", f"noise multiplier {spent['noise_multiplier']:.4g}, L2 clip {spent['l2_clip']:g}, "
                        f"{spent['microbatches']} microbatches per batch, {spent['steps']:,} steps, sampling rate "
                        f"{spent['sampling_rate']:.4g}")]
  else:
    rows.append(("DP-SGD", "not used: no privacy guarantee"))
  if run.privacy_refusal:
    rows.append(("blessing", run.privacy_refusal))
  attack = run.membership_inference
  if attack and attack.get("auc") is not None:
    rows += [("membership inference AUC", f"{attack['auc']:.3f} (0.5: the attack cannot tell training examples "
                                          "from held-out ones)"),
             ("attack", f"{attack['attack']} on {attack['examples']} train and {attack['examples']} eval examples; "
                        f"best accuracy {attack['attack_accuracy']:.3f}; mean loss train {attack['train_loss']:.3f}, "
                        f"eval {attack['eval_loss']:.3f}")]
  return _section("Privacy", _table(["", ""], rows, header=False), "privacy")


def _tuning_section(run: run_summary.RunSummary) -> str:
  """The hyperparameters the Trainer got and, when this run's Tuner searched, every trial with the best marked."""
  tuning = run.tuning
  best = tuning["best"]
  value = lambda v: f"{v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
  parts = [_table(["hyperparameter", "used by the Trainer"], [[k, value(v)] for k, v in best.items()],
                  table_id="best-hyperparameters")]
  if tuning["source"] == "imported":
    parts.insert(0, f"<p>Imported from an earlier search: {html.escape(tuning['uri'])}</p>")
  trials = tuning.get("trials") or []
  if trials:
    searched = list(best)
    best_id = max(trials, key=lambda t: t.get("score") or float("-inf"))["trial_id"]
    rows = [[("&#9733; " if t["trial_id"] == best_id else "") + html.escape(str(t["trial_id"])),
             _fmt(t.get("score"))] + [html.escape(value(t.get(n))) for n in searched] for t in trials]
    parts.append(f"<h3>{len(trials)} completed trials (objective: val_accuracy; &#9733; = best)</h3>")
    parts.append(_table(["trial", "val_accuracy"] + searched, rows, table_id="tuner-trials", escape=False))
  return _section("Hyperparameter search", "".join(parts), "tuning")


def _compression_section(run: run_summary.RunSummary, figures: List[Figure]) -> str:
  """Float SavedModel vs .tflite side by side, the verdict, and the .tflite's confusion matrix."""
  report = run.compression
  float_, tflite = report["float"], report["compressed"]
  kib = lambda b: f"{b / 1024:,.0f} KiB"
  rows = [["file size", kib(float_["bytes"]), kib(tflite["bytes"])],
          ["gzip size", kib(float_["gzip_bytes"]), kib(tflite["gzip_bytes"])],
          ["zero weights", f"{float_.get('sparsity', 0):.1%}", f"{float_.get('sparsity', 0):.1%}"],
          ["batch-1 latency (ms/example)", f"{float_['latency_ms']:.3f}", f"{tflite['latency_ms']:.3f}"]]
  for name in names.SUMMARY_METRICS:
    rows.append([name, _fmt(float_["metrics"].get(name)), _fmt(tflite["metrics"].get(name))])
  good = report.get("blessed")
  verdict = (f"{report['mode']} .tflite: accuracy drop {report['accuracy_drop'] * 100:.2f} points "
             f"(allowed {report['max_accuracy_drop'] * 100:.2f}); labels agree with the float model on "
             f"{report['label_agreement']:.1%} of {report['eval_examples']} eval examples; "
             + ("pushed beside the SavedModel" if report.get("pushed") else
                "not pushed" + (f" ({report['reason']})" if report.get("reason") else "")))
  parts = [_table(["", "float SavedModel", f"{report['mode']} .tflite"], rows, table_id="compression-table"),
           f"<p class='verdict {'good' if good else 'bad'}' id='compression-verdict'>{html.escape(verdict)}</p>"]
  class_ids = sorted({int(n.rsplit("_", 1)[1]) for n in tflite["metrics"] if "/class_" in n})
  matrix = (eval_metrics.read_confusion_matrix(os.path.join(report["uri"], "evaluation"), len(class_ids), "compressed")
            if class_ids and report.get("uri") else None)
  if matrix is not None:
    class_names = report_data.read_class_names(run.output_uri(names.TRANSFORM, "transform_graph"), len(class_ids))
    order = sorted(class_ids, key=lambda c: figures_lib.natural_key(class_names[c]))
    figure = figures_lib.plot_confusion_matrix(matrix[order][:, order], [class_names[c] for c in order])
    figure.name = "compressed_confusion_matrix"
    figures.append(figure)
    parts.append("<h3>Confusion matrix of the .tflite model</h3>" +
                 _figure_html(figure, element_id="compressed-confusion-matrix"))
  return _section("Compression", "".join(parts), "compression")


def _model_card_section(card, pushed_to: str) -> str:
  """The pushed version's model card: overview, data, considerations, and a link to its page."""
  details = card["model_details"]
  considerations = "".join(
      f"<li><b>{html.escape(key.replace('_', ' '))}</b>: " + html.escape("; ".join(
          f"{i['name']} ({i.get('mitigation_strategy', '')})" if "name" in i else i.get("description", "")
          for i in items)) + "</li>" for key, items in card.get("considerations", {}).items())
  data = "".join(f"<li>{html.escape(d['name'])}: {html.escape(d.get('description', ''))}</li>"
                 for d in card.get("model_parameters", {}).get("data", []))
  link = pathlib.Path(os.path.join(pushed_to, model_card.HTML_FILE)).as_uri()
  body = (f"<p id='model-card-overview'>{html.escape(details.get('overview', ''))}</p>"
          f"<ul>{data}</ul><ul id='model-card-considerations'>{considerations}</ul>"
          f"<p>The full card: <a href='{html.escape(link)}'>{model_card.HTML_FILE}</a> and "
          f"{model_card.JSON_FILE} (Model Card Toolkit schema {html.escape(card.get('schema_version', ''))}) in the "
          "pushed version.</p>")
  return _section("Model card", body, "model-card")


def _lineage_section(run: run_summary.RunSummary, metadata_path: str) -> str:
  start = (run.outputs.get(names.PUSHER, {}).get("pushed_model") if run.pushed_to else None) or \
      run.outputs.get(names.TRAINER, {}).get("model")
  if not start:
    return _section("Lineage", "<p>No model was trained.</p>", "lineage")
  rows = []
  for node in report_data.read_lineage(metadata_path, start[0]):
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * node.depth + ("&#8627; " if node.depth else "")
    rows.append([indent + html.escape(f"{node.artifact_type} #{node.artifact_id}"),
                 html.escape(node.produced_by), html.escape(node.uri), html.escape(node.note)])
  intro = ("<p>What the " + ("pushed version" if run.pushed_to else "model") +
           " was made from: each artifact, then the inputs of the component that produced it.</p>")
  return _section("Lineage", intro + _table(["artifact", "produced by", "uri", ""], rows, escape=False),
                  "lineage")


def _fmt(value) -> str:
  return "-" if value is None else (f"{value:.0f}" if float(value).is_integer() and value > 1 else f"{value:.4f}")


def _table(headers, rows, header=True, table_id=None, escape=True) -> str:
  cell = html.escape if escape else (lambda v: v)
  head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>" if header else ""
  body = "".join("<tr>" + "".join(f"<td>{cell(str(v))}</td>" for v in row) + "</tr>" for row in rows)
  attr = f" id='{table_id}'" if table_id else ""
  return f"<table{attr}>{head}{body}</table>"


def _figure_html(figure: Figure, element_id: Optional[str] = None) -> str:
  data = base64.b64encode(figure.png).decode()
  attr = f" id='{element_id}'" if element_id else ""
  return (f"<figure{attr}><img alt='{html.escape(figure.title)}' src='data:image/png;base64,{data}'>"
          f"<figcaption>{html.escape(figure.title)} ({figure.name}.png)</figcaption></figure>")


def _section(title: str, body: str, section_id: str) -> str:
  return f"<section id='{section_id}'><h2>{html.escape(title)}</h2>{body}</section>"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; }}
.verdict {{ font-size: 1.3em; font-weight: bold; }} .good {{ color: #16794c; }} .bad {{ color: #b3261e; }}
section {{ border-top: 2px solid #ddd; padding-top: 0.5em; }}
</style></head>
<body data-figures="{figures}">
<h1>{title}</h1>
{body}
<script>
window.addEventListener("load", function () {{
  var drawn = Array.prototype.filter.call(document.images, function (img) {{ return img.naturalWidth > 0; }});
  document.body.setAttribute("data-figures-drawn", String(drawn.length));
}});
</script>
</body></html>
"""
