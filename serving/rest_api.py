"""TensorFlow Serving's REST API over a ModelServer, so a client written for TF Serving works unchanged.

Wherever `/versions/<v>` is accepted, `/labels/<label>` is too (TF Serving's version labels; core/version_labels.py).
An unversioned request goes to the stable label, else the newest version, or to the canary for the share set by
`--canary-percent` (`X-Modelfab-Routing-Key` keeps one key on one side). Every answer names the version that
answered in `X-Modelfab-Model-Version`.
- `GET /v1/models/<name>[/versions/<v>]`: version status.
- `GET /v1/models/<name>[/versions/<v>]/metadata`: the signatures.
- `POST /v1/models/<name>[/versions/<v>]:predict`: `{"instances": [...]}` (row) or `{"inputs": ...}` (columnar).
  The signature's one input is `examples`, serialized tf.Examples, sent as `{"b64": ...}`, as TF Serving wants.
- `POST /v1/models/<name>[/versions/<v>]:classify`: `{"examples": [{"image": {"b64": ...}}, {"text": "..."}]}`,
  feature maps that the server turns into tf.Examples; answers `{"results": [[[label, score], ...], ...]}`.
- `POST /v1/models/<name>[/versions/<v>]:explain` (with `modelfab serve --explain`): classify's body (image
  or text models), optionally `"steps": N` and `"method"` (integrated-gradients, xrai or grad-cam); answers
  `{"results": <as :classify>, "explanations": [...]}` (serving/explanations.py).
- `GET /v1/models/<name>[/versions/<v>]/model_card[?format=json]`: the version's model card (HTML, or its JSON).
- `GET /monitoring/prometheus/metrics`: Prometheus text.
- `GET /healthz` (liveness: 200 while the process answers), `GET /readyz` (readiness: 200 once every model has a
  version AVAILABLE, 503 while the models load or the server shuts down).
Errors are `{"error": "..."}`: 400 for bad input, 404 for an unknown model, version or label, 413 for a body over
the size limit, 429 when too many explanations wait. Requests over a limit (serving/limits.py) are refused before
the work they would cause.
"""
from __future__ import annotations

import os
import time
import uuid
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core import features
from core.errors import BadRequest
from reports import model_card as model_card_lib
from serving import limits as limits_lib
from serving import rest_codec
from serving.explanations import Busy, ExplainService
from serving.metrics import HEALTH_PATH, METRICS_PATH, READY_PATH, Metrics
from serving.model_server import ModelServer

APIS = ("predict", "classify", "explain")
VERSION_HEADER = "X-Modelfab-Model-Version"
ROUTING_KEY_HEADER = "X-Modelfab-Routing-Key"


def create_app(server: ModelServer, metrics: Optional[Metrics] = None, request_logger=None,
               explainer: Optional[ExplainService] = None,
               limits: limits_lib.RequestLimits = limits_lib.RequestLimits()) -> FastAPI:
  """The FastAPI app serving `server`'s models; `request_logger` (serving.request_log) samples requests to disk;
  `explainer` answers `:explain` (off without it); `limits` bound what one request may ask."""
  metrics = metrics or Metrics()
  app = FastAPI(title="modelfab serve", docs_url=None, redoc_url=None, openapi_url=None)
  app.state.metrics = metrics

  def error(status: int, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)

  def version_of(version: Optional[str]) -> Optional[int]:
    if version is None:
      return None
    if not version.isdigit():
      raise LookupError(f"version must be a number, got {version!r}")
    return int(version)

  async def read_body(request: Request) -> bytes:
    """The body, refused (413) from its Content-Length or as soon as it passes the limit, never read whole."""
    length = request.headers.get("content-length", "")
    if length.isdigit():
      limits_lib.check_body_size(int(length), limits)
    chunks, size = [], 0
    async for chunk in request.stream():
      size += len(chunk)
      limits_lib.check_body_size(size, limits)
      chunks.append(chunk)
    return b"".join(chunks)

  async def run(name: str, version: Optional[str], label: Optional[str], api: str, request: Request) -> JSONResponse:
    started = time.perf_counter()
    served_version, served_label, headers = "-", "", {}
    try:
      if api not in APIS:
        raise LookupError(f"unknown API {api!r}; modelfab serves {', '.join(APIS)}")
      served, served_label = server.route(name, version_of(version), label,
                                          request.headers.get(ROUTING_KEY_HEADER))
      served_version = str(served.version)
      headers[VERSION_HEADER] = served_version
      body = rest_codec.parse_body(await read_body(request), limits)
      metadata = served.model.metadata
      if api == "predict":
        examples, layout = rest_codec.examples_from_predict(body)
      else:
        limits_lib.check_example_count(len(body.get("examples") or []), limits)
        examples = rest_codec.examples_from_classify(body, metadata.serving_features)
        layout = "classify"
      limits_lib.check_examples(examples, metadata.image_feature, limits)
      if api == "explain":
        if explainer is None:
          raise LookupError("explanations are off: start the server with `modelfab serve --explain`")
        explainer.check_count(examples)
        steps, method = explainer.steps_of(body), explainer.method_of(body)
      import anyio  # pylint: disable=g-import-not-at-top

      try:
        outputs = await anyio.to_thread.run_sync(served.predict, examples)
      except Exception as e:  # pylint: disable=broad-except
        message = getattr(e, "message", None) or str(e)
        raise BadRequest(f"the model refused the input: {message.strip().splitlines()[0]}") from e
      request_id = uuid.uuid4().hex
      if request_logger is not None:
        request_logger.log(name, served.version, request_id, examples, outputs)
      metrics.observe_outputs(name, outputs)
      payload = rest_codec.encode_outputs(outputs, layout, metadata.labels)
      if api == "explain":
        payload["explanations"] = await explainer.explain(served.model.path, examples, steps, method)
      headers["X-Modelfab-Request-Id"] = request_id
      status, response = 200, JSONResponse(payload, headers=headers)
    except LookupError as e:
      status, response = 404, error(404, str(e.args[0] if e.args else e), headers)
    except limits_lib.RequestRefused as e:
      status, response = e.status, error(e.status, str(e), headers)
    except BadRequest as e:
      status, response = 400, error(400, str(e), headers)
    except Busy as e:
      status, response = 429, error(429, str(e), headers)
    metrics.requests.labels(name, served_version, served_label, api, str(status)).inc()
    metrics.latency.labels(name, api).observe(time.perf_counter() - started)
    return response

  @app.post("/v1/models/{name}:{api}")
  async def call_default(name: str, api: str, request: Request):
    return await run(name, None, None, api, request)

  @app.post("/v1/models/{name}/versions/{version}:{api}")
  async def call_version(name: str, version: str, api: str, request: Request):
    return await run(name, version, None, api, request)

  @app.post("/v1/models/{name}/labels/{label}:{api}")
  async def call_label(name: str, label: str, api: str, request: Request):
    return await run(name, None, label, api, request)

  @app.get("/v1/models/{name}")
  async def status(name: str):
    try:
      return {"model_version_status": server.status(name)}
    except LookupError as e:
      return error(404, str(e.args[0]))

  def version_status(name: str, version: Optional[str], label: Optional[str]):
    try:
      served, _ = server.route(name, version_of(version), label)
    except LookupError as e:
      return error(404, str(e.args[0]))
    return JSONResponse({"model_version_status": [s for s in server.status(name)
                                                  if s["version"] == str(served.version)]},
                        headers={VERSION_HEADER: str(served.version)})

  @app.get("/v1/models/{name}/versions/{version}")
  async def status_of_version(name: str, version: str):
    return version_status(name, version, None)

  @app.get("/v1/models/{name}/labels/{label}")
  async def status_of_label(name: str, label: str):
    return version_status(name, None, label)

  def metadata_of(name: str, version: Optional[str], label: Optional[str] = None):
    try:
      served, _ = server.route(name, version_of(version), label)
    except LookupError as e:
      return error(404, str(e.args[0]))
    fn = served.model.serving_fn
    outputs = {k: {"dtype": spec.dtype.name, "tensor_shape": [d for d in spec.shape.as_list()]}
               for k, spec in fn.structured_outputs.items()}
    extra = {**served.model.metadata.to_json(), "labels": server.labels(name)}
    if os.path.isfile(os.path.join(served.model.path, model_card_lib.JSON_FILE)):
      extra["model_card"] = f"/v1/models/{name}/versions/{served.version}/model_card"
    return JSONResponse({"model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
                         "metadata": {"signature_def": {"signature_def": {features.SERVING_SIGNATURE: {
                             "inputs": {features.SERVING_INPUT: {"dtype": "DT_STRING", "tensor_shape": [-1]}},
                             "outputs": outputs, "method_name": "tensorflow/serving/predict"}}},
                             "modelfab": extra}}, headers={VERSION_HEADER: str(served.version)})

  @app.get("/v1/models/{name}/metadata")
  async def metadata(name: str):
    return metadata_of(name, None)

  @app.get("/v1/models/{name}/versions/{version}/metadata")
  async def version_metadata(name: str, version: str):
    return metadata_of(name, version)

  @app.get("/v1/models/{name}/labels/{label}/metadata")
  async def label_metadata(name: str, label: str):
    return metadata_of(name, None, label)

  def model_card_of(name: str, version: Optional[str], label: Optional[str], request: Request):
    """The pushed version's model card: its HTML page, or `?format=json` for model_card.json."""
    try:
      served, _ = server.route(name, version_of(version), label)
    except LookupError as e:
      return error(404, str(e.args[0]))
    as_json = request.query_params.get("format") == "json"
    path = os.path.join(served.model.path, model_card_lib.JSON_FILE if as_json else model_card_lib.HTML_FILE)
    if not os.path.isfile(path):
      return error(404, f"version {served.version} of {name} has no model card (pushed before model cards existed)")
    return FileResponse(path, media_type="application/json" if as_json else "text/html",
                        headers={VERSION_HEADER: str(served.version)})

  @app.get("/v1/models/{name}/model_card")
  async def model_card(name: str, request: Request):
    return model_card_of(name, None, None, request)

  @app.get("/v1/models/{name}/versions/{version}/model_card")
  async def version_model_card(name: str, version: str, request: Request):
    return model_card_of(name, version, None, request)

  @app.get("/v1/models/{name}/labels/{label}/model_card")
  async def label_model_card(name: str, label: str, request: Request):
    return model_card_of(name, None, label, request)

  @app.get(HEALTH_PATH)
  async def healthz():
    """Liveness: the process answers."""
    return {"status": "alive"}

  @app.get(READY_PATH)
  async def readyz():
    """Readiness: 200 once every model has an AVAILABLE version, 503 while loading or shutting down."""
    ready, detail = server.readiness()
    return JSONResponse({"ready": ready, "models": detail}, status_code=200 if ready else 503)

  @app.get(METRICS_PATH)
  async def prometheus():
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

  return app
