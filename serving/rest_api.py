"""TensorFlow Serving's REST API over a ModelServer, so a client written for TF Serving works unchanged.

- `GET /v1/models/<name>[/versions/<v>]`: version status.
- `GET /v1/models/<name>[/versions/<v>]/metadata`: the signatures.
- `POST /v1/models/<name>[/versions/<v>]:predict`: `{"instances": [...]}` (row) or `{"inputs": ...}` (columnar).
  The signature's one input is `examples`, serialized tf.Examples, sent as `{"b64": ...}`, as TF Serving wants.
- `POST /v1/models/<name>[/versions/<v>]:classify`: `{"examples": [{"image": {"b64": ...}}, {"text": "..."}]}`,
  feature maps that the server turns into tf.Examples; answers `{"results": [[[label, score], ...], ...]}`.
- `GET /monitoring/prometheus/metrics`: Prometheus text.
Errors are `{"error": "..."}`: 400 for bad input, 404 for an unknown model or version.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any, Dict, List, Optional

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from serving.model_server import ModelServer

METRICS_PATH = "/monitoring/prometheus/metrics"


class BadRequest(ValueError):
  """Input the model cannot take; answered with 400."""


class Metrics:
  """The server's Prometheus metrics, in a registry of their own."""

  def __init__(self):
    self.registry = CollectorRegistry()
    self.requests = Counter("modelfab_requests", "Requests by model, version, API and status",
                            ["model", "version", "api", "status"], registry=self.registry)
    self.latency = Histogram("modelfab_request_latency_seconds", "Request latency", ["model", "api"],
                             buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5),
                             registry=self.registry)
    self.batch_size = Histogram("modelfab_batch_size", "Examples per model call", ["model"],
                                buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
    self.predicted = Counter("modelfab_predicted_class", "Predictions by class", ["model", "label"],
                             registry=self.registry)
    self.log_errors = Counter("modelfab_request_log_errors", "Requests not logged (queue full, write error)",
                              ["reason"], registry=self.registry)
    self.score = Histogram("modelfab_prediction_score", "Top-class probability", ["model"],
                           buckets=(.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .99, 1.0), registry=self.registry)


def _b64(value: Any, where: str) -> bytes:
  if isinstance(value, dict) and set(value) == {"b64"}:
    try:
      return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, TypeError) as e:
      raise BadRequest(f"{where}: invalid base64 ({e})") from e
  raise BadRequest(f"{where}: expected {{\"b64\": ...}} holding a serialized tf.Example")


def examples_from_predict(body: Dict[str, Any]) -> tuple:
  """(serialized examples, "row" | "columnar") from a predict request body."""
  if "instances" in body:
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
      raise BadRequest("'instances' must be a non-empty list")
    return [_b64(i.get("examples") if isinstance(i, dict) and "examples" in i else i, f"instances[{n}]")
            for n, i in enumerate(instances)], "row"
  if "inputs" in body:
    inputs = body["inputs"]
    if isinstance(inputs, dict):
      if set(inputs) != {"examples"}:
        raise BadRequest(f"unknown input(s) {sorted(set(inputs) - {'examples'})}; the signature takes 'examples'")
      inputs = inputs["examples"]
    if not isinstance(inputs, list) or not inputs:
      raise BadRequest("'inputs' must be a non-empty list of {\"b64\": ...} values")
    return [_b64(i, f"inputs[{n}]") for n, i in enumerate(inputs)], "columnar"
  raise BadRequest("the request needs 'instances' (row format) or 'inputs' (columnar format)")


def examples_from_classify(body: Dict[str, Any], features: List[str]) -> List[bytes]:
  """Serialized tf.Examples built from classify's feature maps (`{"image": {"b64": ...}}` or `{"text": "..."}`)."""
  from serving.predict import serialized_examples  # pylint: disable=g-import-not-at-top

  examples = body.get("examples")
  if not isinstance(examples, list) or not examples:
    raise BadRequest("'examples' must be a non-empty list of feature maps")
  feature_maps = []
  for n, example in enumerate(examples):
    if not isinstance(example, dict):
      raise BadRequest(f"examples[{n}]: expected a feature map")
    unknown = sorted(set(example) - set(features)) if features else []
    missing = sorted(set(features) - set(example))
    if unknown or missing:
      raise BadRequest(f"examples[{n}]: the model reads feature(s) {features}; "
                       f"{'unknown ' + str(unknown) if unknown else ''}{' ' if unknown and missing else ''}"
                       f"{'missing ' + str(missing) if missing else ''}")
    feature_map = {}
    for key, value in example.items():
      if isinstance(value, str):
        data = value.encode("utf-8")
      elif isinstance(value, dict):
        data = _b64(value, f"examples[{n}].{key}") if set(value) == {"b64"} else None
      else:
        data = None
      if data is None:
        raise BadRequest(f"examples[{n}].{key}: expected a string or {{\"b64\": ...}}")
      feature_map[key] = data
    feature_maps.append(feature_map)
  return serialized_examples(feature_maps)


def _jsonable(value: np.ndarray) -> Any:
  if value.dtype.kind in ("S", "O"):
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.tolist()]
  return value.tolist()


def create_app(server: ModelServer, metrics: Optional[Metrics] = None, request_logger=None) -> FastAPI:
  """The FastAPI app serving `server`'s models; `request_logger` (serving.request_log) samples requests to disk."""
  metrics = metrics or Metrics()
  app = FastAPI(title="modelfab serve", docs_url=None, redoc_url=None, openapi_url=None)
  app.state.metrics = metrics

  def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)

  def version_of(version: Optional[str]) -> Optional[int]:
    if version is None:
      return None
    if not version.isdigit():
      raise LookupError(f"version must be a number, got {version!r}")
    return int(version)

  async def body_of(request: Request) -> Dict[str, Any]:
    try:
      body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise BadRequest(f"JSON Parse error: {e}") from e
    if not isinstance(body, dict):
      raise BadRequest("the request body must be a JSON object")
    return body

  async def run(name: str, version: Optional[str], api: str, request: Request) -> JSONResponse:
    started = time.perf_counter()
    served_version = "-"
    try:
      served = server.get(name, version_of(version))
      served_version = str(served.version)
      body = await body_of(request)
      if api == "predict":
        examples, layout = examples_from_predict(body)
      else:
        examples, layout = examples_from_classify(body, served.model.metadata.serving_features), "classify"
      import anyio  # pylint: disable=g-import-not-at-top

      try:
        outputs = await anyio.to_thread.run_sync(served.predict, examples)
      except Exception as e:  # pylint: disable=broad-except
        message = getattr(e, "message", None) or str(e)
        raise BadRequest(f"the model refused the input: {message.strip().splitlines()[0]}") from e
      request_id = uuid.uuid4().hex
      if request_logger is not None:
        request_logger.log(name, served.version, request_id, examples, outputs)
      labels = [l.decode("utf-8", "replace") for l in outputs["label"]]
      for label, score in zip(labels, outputs["score"]):
        metrics.predicted.labels(name, label).inc()
        metrics.score.labels(name).observe(float(score))
      if layout == "row":
        payload = {"predictions": [{k: _jsonable(v[i:i + 1])[0] for k, v in outputs.items()}
                                   for i in range(len(examples))]}
      elif layout == "columnar":
        payload = {"outputs": {k: _jsonable(v) for k, v in outputs.items()}}
      else:
        vocabulary = served.model.metadata.labels
        payload = {"results": [
            [[label, float(p)] for label, p in zip(vocabulary, row)] if vocabulary else
            [[labels[i], float(outputs["score"][i])]] for i, row in enumerate(outputs["probabilities"])]}
      status, response = 200, JSONResponse(payload, headers={"X-Modelfab-Request-Id": request_id})
    except LookupError as e:
      status, response = 404, error(404, str(e.args[0] if e.args else e))
    except BadRequest as e:
      status, response = 400, error(400, str(e))
    metrics.requests.labels(name, served_version, api, str(status)).inc()
    metrics.latency.labels(name, api).observe(time.perf_counter() - started)
    return response

  @app.post("/v1/models/{name}:{api}")
  async def call_latest(name: str, api: str, request: Request):
    if api not in ("predict", "classify"):
      return error(404, f"unknown API {api!r}; modelfab serves predict and classify")
    return await run(name, None, api, request)

  @app.post("/v1/models/{name}/versions/{version}:{api}")
  async def call_version(name: str, version: str, api: str, request: Request):
    if api not in ("predict", "classify"):
      return error(404, f"unknown API {api!r}; modelfab serves predict and classify")
    return await run(name, version, api, request)

  @app.get("/v1/models/{name}")
  async def status(name: str):
    try:
      return {"model_version_status": server.status(name)}
    except LookupError as e:
      return error(404, str(e.args[0]))

  @app.get("/v1/models/{name}/versions/{version}")
  async def version_status(name: str, version: str):
    try:
      served = server.get(name, version_of(version))
    except LookupError as e:
      return error(404, str(e.args[0]))
    return {"model_version_status": [s for s in server.status(name) if s["version"] == str(served.version)]}

  def metadata_of(name: str, version: Optional[str]):
    try:
      served = server.get(name, version_of(version))
    except LookupError as e:
      return error(404, str(e.args[0]))
    fn = served.model.serving_fn
    outputs = {k: {"dtype": spec.dtype.name, "tensor_shape": [d for d in spec.shape.as_list()]}
               for k, spec in fn.structured_outputs.items()}
    return {"model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": {"serving_default": {
                "inputs": {"examples": {"dtype": "DT_STRING", "tensor_shape": [-1]}},
                "outputs": outputs, "method_name": "tensorflow/serving/predict"}}},
                "modelfab": served.model.metadata.to_json()}}

  @app.get("/v1/models/{name}/metadata")
  async def metadata(name: str):
    return metadata_of(name, None)

  @app.get("/v1/models/{name}/versions/{version}/metadata")
  async def version_metadata(name: str, version: str):
    return metadata_of(name, version)

  @app.get(METRICS_PATH)
  async def prometheus():
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

  return app
