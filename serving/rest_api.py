"""TensorFlow Serving's REST API over a ModelServer, so a client written for TF Serving works unchanged.

- `GET /v1/models/<name>[/versions/<v>]`: version status.
- `GET /v1/models/<name>[/versions/<v>]/metadata`: the signatures.
- `POST /v1/models/<name>[/versions/<v>]:predict`: `{"instances": [...]}` (row) or `{"inputs": ...}` (columnar).
  The signature's one input is `examples`, serialized tf.Examples, sent as `{"b64": ...}`, as TF Serving wants.
- `POST /v1/models/<name>[/versions/<v>]:classify`: `{"examples": [{"image": {"b64": ...}}, {"text": "..."}]}`,
  feature maps that the server turns into tf.Examples; answers `{"results": [[[label, score], ...], ...]}`.
- `POST /v1/models/<name>[/versions/<v>]:explain` (with `modelfab serve --explain`): classify's body (image
  models), optionally `"steps": N`; answers `{"results": <as :classify>, "explanations": [...]}`
  (serving/explanations.py).
- `GET /monitoring/prometheus/metrics`: Prometheus text.
Errors are `{"error": "..."}`: 400 for bad input, 404 for an unknown model or version, 429 when too many
explanations wait.
"""
from __future__ import annotations

import time
import uuid
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core import features
from core.errors import BadRequest
from serving import rest_codec
from serving.explanations import Busy, ExplainService
from serving.metrics import METRICS_PATH, Metrics
from serving.model_server import ModelServer

APIS = ("predict", "classify", "explain")


def create_app(server: ModelServer, metrics: Optional[Metrics] = None, request_logger=None,
               explainer: Optional[ExplainService] = None) -> FastAPI:
  """The FastAPI app serving `server`'s models; `request_logger` (serving.request_log) samples requests to disk;
  `explainer` answers `:explain` (off without it)."""
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

  async def run(name: str, version: Optional[str], api: str, request: Request) -> JSONResponse:
    started = time.perf_counter()
    served_version = "-"
    try:
      served = server.get(name, version_of(version))
      served_version = str(served.version)
      body = rest_codec.parse_body(await request.body())
      if api == "predict":
        examples, layout = rest_codec.examples_from_predict(body)
      else:
        examples = rest_codec.examples_from_classify(body, served.model.metadata.serving_features)
        layout = "classify"
      if api == "explain":
        if explainer is None:
          raise LookupError("explanations are off: start the server with `modelfab serve --explain`")
        explainer.check_count(examples)
        steps = explainer.steps_of(body)
      import anyio  # pylint: disable=g-import-not-at-top

      try:
        outputs = await anyio.to_thread.run_sync(served.predict, examples)
      except Exception as e:  # pylint: disable=broad-except
        message = getattr(e, "message", None) or str(e)
        raise BadRequest(f"the model refused the input: {message.strip().splitlines()[0]}") from e
      request_id = uuid.uuid4().hex
      if request_logger is not None:
        request_logger.log(name, served.version, request_id, examples, outputs)
      labels = [l.decode("utf-8", "replace") for l in outputs[features.PREDICTED_LABEL]]
      for label, score in zip(labels, outputs[features.PREDICTED_SCORE]):
        metrics.predicted.labels(name, label).inc()
        metrics.score.labels(name).observe(float(score))
      payload = rest_codec.encode_outputs(outputs, layout, served.model.metadata.labels)
      if api == "explain":
        payload["explanations"] = await explainer.explain(served.model.path, examples, steps)
      status, response = 200, JSONResponse(payload, headers={"X-Modelfab-Request-Id": request_id})
    except LookupError as e:
      status, response = 404, error(404, str(e.args[0] if e.args else e))
    except BadRequest as e:
      status, response = 400, error(400, str(e))
    except Busy as e:
      status, response = 429, error(429, str(e))
    metrics.requests.labels(name, served_version, api, str(status)).inc()
    metrics.latency.labels(name, api).observe(time.perf_counter() - started)
    return response

  @app.post("/v1/models/{name}:{api}")
  async def call_latest(name: str, api: str, request: Request):
    if api not in APIS:
      return error(404, f"unknown API {api!r}; modelfab serves {', '.join(APIS)}")
    return await run(name, None, api, request)

  @app.post("/v1/models/{name}/versions/{version}:{api}")
  async def call_version(name: str, version: str, api: str, request: Request):
    if api not in APIS:
      return error(404, f"unknown API {api!r}; modelfab serves {', '.join(APIS)}")
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
            "metadata": {"signature_def": {"signature_def": {features.SERVING_SIGNATURE: {
                "inputs": {features.SERVING_INPUT: {"dtype": "DT_STRING", "tensor_shape": [-1]}},
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
