"""A model card for every pushed version: `model_card.json`, valid against Model Card Toolkit's v0.0.2 JSON schema
(`model_card.schema.json` beside this file, from the model-card-toolkit 2.0.0 wheel, Apache-2.0; the toolkit itself
cannot be installed beside TFX 1.16), and `model_card.html`, a page that needs nothing else.

The Pusher (components/atomic_pusher.py) builds it from what the run made: the model's metadata (task, features,
labels, training precision), the training and eval split statistics, TFMA's metrics overall and per class, the
blessing threshold and baseline, the .tflite's compression report, whether the model can explain itself, and the
lineage (pipeline, run, artifact URIs). `--model-card-notes FILE` adds the user's considerations (a JSON object
with `users`, `use_cases`, `limitations`, `tradeoffs` as lists of strings and `ethical_considerations` as a list of
{name, mitigation_strategy}).
"""
from __future__ import annotations

import datetime
import html
import json
import os
import pathlib
from typing import Any, Dict, List, Optional

from core import json_files
from core.errors import DataError, ModelError

SCHEMA_FILE = pathlib.Path(__file__).with_name("model_card.schema.json")
SCHEMA_VERSION = "0.0.2"
JSON_FILE = "model_card.json"
HTML_FILE = "model_card.html"
NOTE_LISTS = ("users", "use_cases", "limitations", "tradeoffs")


def schema() -> Dict[str, Any]:
  with open(SCHEMA_FILE, encoding="utf-8") as f:
    return json.load(f)


def schema_errors(card: Dict[str, Any]) -> List[str]:
  """Where `card` breaks the schema ("path: message"); empty when it is valid."""
  import jsonschema  # pylint: disable=g-import-not-at-top

  validator = jsonschema.Draft7Validator(schema())
  return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(card)]


def read_notes(path: str) -> Dict[str, Any]:
  """The user's considerations from a JSON file, as the schema's `considerations`; DataError naming the file and
  the field otherwise."""
  try:
    with open(path, encoding="utf-8") as f:
      notes = json.load(f)
  except (OSError, ValueError) as e:
    raise DataError(f"--model-card-notes {path}: cannot read it as JSON ({e})") from e
  if not isinstance(notes, dict):
    raise DataError(f"--model-card-notes {path}: expected a JSON object with {', '.join(NOTE_LISTS)}, "
                    "ethical_considerations")
  unknown = sorted(set(notes) - set(NOTE_LISTS) - {"ethical_considerations"})
  if unknown:
    raise DataError(f"--model-card-notes {path}: unknown field(s) {unknown}; use {', '.join(NOTE_LISTS)}, "
                    "ethical_considerations")
  considerations: Dict[str, Any] = {}
  for key in NOTE_LISTS:
    values = notes.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
      raise DataError(f"--model-card-notes {path}: '{key}' must be a list of strings")
    if values:
      considerations[key] = [{"description": v} for v in values]
  risks = notes.get("ethical_considerations", [])
  if not isinstance(risks, list) or not all(isinstance(r, dict) and isinstance(r.get("name"), str) and
                                            set(r) <= {"name", "mitigation_strategy"} for r in risks):
    raise DataError(f"--model-card-notes {path}: 'ethical_considerations' must be a list of {{\"name\": ..., "
                    "\"mitigation_strategy\": ...}}")
  if risks:
    considerations["ethical_considerations"] = risks
  return considerations


def build_model_card(name: str, version: str, metadata, metrics: Dict[str, float],
                     split_counts: Dict[str, Dict[str, int]], blessing: Dict[str, Any], lineage: Dict[str, str],
                     compression: Optional[Dict[str, Any]] = None, explainable: bool = False,
                     notes: Optional[Dict[str, Any]] = None, when: Optional[datetime.datetime] = None,
                     onnx: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The card as a dict of the schema. `metadata`: the model's ModelMetadata; `metrics`: TFMA's, with per-class
  entries as `<metric>/class_<id>` (ids index metadata.labels); `split_counts`: split -> class -> examples;
  `blessing`: {"min_accuracy", "baseline"}; `lineage`: name -> URI or id."""
  when = when or datetime.datetime.now()
  labels = list(metadata.labels)
  accuracy = metrics.get("sparse_categorical_accuracy", metrics.get("accuracy"))
  task = metadata.task or "model"
  shown = sorted(labels, key=lambda l: (len(l), l))[:12]
  overview = (f"{task} classifier of {len(labels)} classes ({', '.join(shown)}{', ...' if len(labels) > 12 else ''})"
              f", pushed by modelfab" + (f"; eval accuracy {accuracy:.3f}" if accuracy is not None else ""))
  blessed_text = (f"Blessed: eval accuracy {accuracy:.4f} reached the threshold {blessing.get('min_accuracy')} and was "
                  f"no worse than the baseline ({blessing.get('baseline') or 'none: the first blessed model'})."
                  if accuracy is not None else "Evaluation metrics were not available.")
  documentation = [blessed_text]
  if explainable:
    documentation.append("Explainable: the SavedModel has the explain_pixels signature; `modelfab explain` and the "
                         "server's :explain give integrated-gradients attributions.")
  documentation.append("Lineage: " + "; ".join(f"{k} {v}" for k, v in lineage.items()) + ".")
  architecture = f"{task}, trained in {metadata.training_precision or 'float32'}"
  if metadata.training_precision_reason:
    architecture += f" ({metadata.training_precision_reason})"
  architecture += "; exported in float32 with the Transform graph inside its serving signature."
  if metadata.privacy:
    architecture += (f" Trained with DP-SGD: epsilon {metadata.privacy['epsilon']:.3g} at delta "
                     f"{metadata.privacy['delta']:g} (noise multiplier {metadata.privacy['noise_multiplier']:.3g}, "
                     f"clip {metadata.privacy['l2_clip']:g}, {metadata.privacy['steps']} steps).")
  attack = metadata.membership_inference or {}
  if attack.get("auc") is not None:
    architecture += (f" A loss-threshold membership-inference attack reached an AUC of {attack['auc']:.3f} on "
                     f"{attack['examples']} train vs eval examples (0.5: chance).")
  if compression:
    compressed = compression.get("compressed", {})
    architecture += (f" The {compression.get('mode')} TFLite model was {'pushed beside it' if compression.get('blessed') else 'made but not pushed'}"
                     f" ({compressed.get('bytes', 0) / 1024:.0f} KB, accuracy drop {compression.get('accuracy_drop', 0):.4f},"
                     f" label agreement {compression.get('label_agreement', 0):.3f}).")
  if onnx and onnx.get("eval_examples"):
    architecture += (f" model.onnx was {'pushed beside it' if onnx.get('blessed') else 'made but not pushed'}"
                     f" (the same label on {onnx['label_agreement']:.1%} of {onnx['eval_examples']} eval examples,"
                     f" probabilities within {onnx['max_probability_difference']:.1e}).")
  data = []
  for split, counts in sorted(split_counts.items()):
    total = sum(counts.values())
    data.append({"name": f"{split} split", "description": f"{total} examples; per class: " +
                 ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), **(
                     {"link": lineage_link(lineage.get("examples"))} if lineage.get("examples") else {})})
  performance = []
  for metric, value in sorted(metrics.items()):
    if "/class_" in metric:
      base, class_id = metric.rsplit("/class_", 1)
      if not class_id.isdigit():
        continue
      label = labels[int(class_id)] if int(class_id) < len(labels) else class_id
      performance.append({"type": base, "value": f"{value:.4f}", "slice": f"class={label}"})
    else:
      text = str(int(value)) if float(value).is_integer() and metric.endswith("count") else f"{value:.4f}"
      performance.append({"type": metric, "value": text, "slice": "overall"})
  considerations = dict(notes or {})
  considerations.setdefault("limitations", [{"description": (
      f"Trained on {sum(split_counts.get('train', {}).values())} examples; inputs unlike them (other classes, "
      "sizes, domains) get one of the known labels anyway. Watch live traffic with `modelfab monitor`.")}])
  card = {
      "schema_version": SCHEMA_VERSION,
      "model_details": {
          "name": name, "overview": overview, "documentation": " ".join(documentation),
          "version": {"name": str(version), "date": when.date().isoformat()},
          "path": lineage.get("pushed_to", ""),
      },
      "model_parameters": {
          "model_architecture": architecture, "data": data,
          "input_format": "serialized tf.Example with " + ", ".join(metadata.serving_features or ["image"]),
          "input_format_map": [{"key": f, "value": "bytes (encoded image)" if f == "image" else "UTF-8 text"}
                               for f in metadata.serving_features],
          "output_format": "probabilities (float per class), label (string), score (float)",
      },
      "quantitative_analysis": {"performance_metrics": performance},
      "considerations": considerations,
  }
  errors = schema_errors(card)
  if errors:
    raise ModelError(f"model card of {name} {version} breaks the Model Card Toolkit schema: {errors[:3]}")
  return card


def lineage_link(uri: Optional[str]) -> str:
  if not uri:
    return ""
  return uri if "://" in uri else pathlib.Path(os.path.abspath(uri)).as_uri()


def render_html(card: Dict[str, Any]) -> str:
  """A self-contained HTML page of the card."""
  e = lambda v: html.escape(str(v))
  details, parameters = card["model_details"], card["model_parameters"]
  overall = [m for m in card["quantitative_analysis"]["performance_metrics"] if m.get("slice") == "overall"]
  per_class = [m for m in card["quantitative_analysis"]["performance_metrics"] if m.get("slice") != "overall"]
  classes = sorted({m["slice"] for m in per_class}, key=lambda s: (len(s), s))
  kinds = sorted({m["type"] for m in per_class})
  cell = {(m["slice"], m["type"]): m["value"] for m in per_class}
  rows = "".join(f"<tr><td>{e(m['type'])}</td><td>{e(m['value'])}</td></tr>" for m in overall)
  class_rows = "".join("<tr><td>" + e(c.split("=", 1)[-1]) + "</td>" + "".join(
      f"<td>{e(cell.get((c, k), ''))}</td>" for k in kinds) + "</tr>" for c in classes)
  data = "".join(f"<li><b>{e(d['name'])}</b>: {e(d.get('description', ''))}</li>" for d in parameters.get("data", []))
  considerations = ""
  for key, items in card.get("considerations", {}).items():
    texts = [f"{i['name']}: {i.get('mitigation_strategy', '')}" if "name" in i else i.get("description", "")
             for i in items]
    considerations += f"<h3>{e(key.replace('_', ' ').capitalize())}</h3><ul>" + "".join(
        f"<li>{e(t)}</li>" for t in texts) + "</ul>"
  return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {e(details['name'])} {e(details['version']['name'])}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.45}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}</style></head><body>
<h1 id="model-card">Model card: {e(details['name'])}, version {e(details['version']['name'])}</h1>
<p id="overview">{e(details['overview'])}</p>
<p>{e(details['documentation'])}</p>
<h2>Model</h2><p>{e(parameters['model_architecture'])}</p>
<p>Input: {e(parameters['input_format'])}. Output: {e(parameters['output_format'])}.</p>
<h2>Data</h2><ul id="data">{data}</ul>
<h2>Evaluation</h2><table id="overall-metrics"><tr><th>metric</th><th>value</th></tr>{rows}</table>
<h3>Per class</h3><table id="per-class-metrics"><tr><th>class</th>{''.join(f'<th>{e(k)}</th>' for k in kinds)}</tr>{class_rows}</table>
<h2>Considerations</h2><div id="considerations">{considerations}</div>
<p><small>Schema: Model Card Toolkit {e(card['schema_version'])}; pushed {e(details['version']['date'])}; {e(details.get('path', ''))}</small></p>
</body></html>
"""


def write_model_card(folder: str, card: Dict[str, Any]) -> List[str]:
  """Writes model_card.json and model_card.html into `folder`; returns their paths."""
  paths = [os.path.join(folder, JSON_FILE), os.path.join(folder, HTML_FILE)]
  with open(paths[0], "w", encoding="utf-8") as f:
    json.dump(card, f, indent=2)
  with open(paths[1], "w", encoding="utf-8") as f:
    f.write(render_html(card))
  return paths


def read_model_card(version_dir: str) -> Optional[Dict[str, Any]]:
  """The card pushed with a version, or None (versions pushed before cards existed)."""
  return json_files.read_json(version_dir, JSON_FILE)
