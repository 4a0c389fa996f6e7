"""TensorFlow Serving's gRPC API over a ModelServer: `tensorflow.serving.PredictionService` (Predict, Classify,
GetModelMetadata) and `ModelService.GetModelStatus`, with the protos and stubs of `tensorflow-serving-api`, so a
client written for TF Serving works unchanged.

`model_spec.version` or `model_spec.version_label` choose the version as the REST paths do; neither routes like an
unversioned REST request (stable, canary share). Predict takes the signature's one input, `examples` (serialized
tf.Examples); Classify takes `input.example_list`. The same batching, request limits (the message size is gRPC's
own receive limit) and Prometheus metrics as REST; the answering version is in the response's `model_spec` and in
the `x-modelfab-model-version` trailing metadata.
"""
from __future__ import annotations

import time
import uuid
from concurrent import futures

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

from core import features
from core.errors import BadRequest
from serving import limits as limits_lib
from serving.metrics import Metrics
from serving.model_server import ModelServer

def tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
  """A TensorProto of a float, int or bytes array (what the serving signature answers), without TensorFlow ops."""
  proto = tensor_pb2.TensorProto(tensor_shape=tensor_shape_pb2.TensorShapeProto(
      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]))
  kind = array.dtype.kind
  if kind == "f":
    proto.dtype = types_pb2.DT_FLOAT
    proto.tensor_content = np.ascontiguousarray(array, np.float32).tobytes()
  elif kind in "iu":
    proto.dtype = types_pb2.DT_INT64
    proto.tensor_content = np.ascontiguousarray(array, np.int64).tobytes()
  else:
    proto.dtype = types_pb2.DT_STRING
    proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist())
  return proto


class _Service(prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer):
  """Both services over one ModelServer."""

  def __init__(self, server: ModelServer, metrics: Metrics, limits: limits_lib.RequestLimits, request_logger=None):
    self.server = server
    self.metrics = metrics
    self.limits = limits
    self.request_logger = request_logger

  def _route(self, spec, context):
    """(served, label) for a ModelSpec; LookupError when the model, version or label is unknown."""
    version = spec.version.value if spec.HasField("version") else None
    served, label_used = self.server.route(spec.name, version, spec.version_label or None)
    context.set_trailing_metadata((("x-modelfab-model-version", str(served.version)),))
    return served, label_used

  def _predict(self, api: str, spec, examples_of, context) -> tuple:
    """(served, outputs) for the examples `examples_of()` gives; aborts NOT_FOUND or INVALID_ARGUMENT (naming the
    limit or the problem) otherwise."""
    started = time.perf_counter()
    served, label, code, message = None, "", grpc.StatusCode.OK, ""
    try:
      served, label = self._route(spec, context)
      examples = examples_of()
      limits_lib.check_examples(examples, served.model.metadata.image_feature, self.limits)
      try:
        outputs = served.predict(examples)
      except Exception as e:  # pylint: disable=broad-except
        text = getattr(e, "message", None) or str(e)
        raise BadRequest(f"the model refused the input: {text.strip().splitlines()[0]}") from e
      if self.request_logger is not None:
        self.request_logger.log(spec.name, served.version, uuid.uuid4().hex, examples, outputs)
      self.metrics.observe_outputs(spec.name, outputs)
    except LookupError as e:
      code, message = grpc.StatusCode.NOT_FOUND, str(e.args[0] if e.args else e)
    except BadRequest as e:
      code, message = grpc.StatusCode.INVALID_ARGUMENT, str(e)
    self.metrics.requests.labels(spec.name, str(served.version) if served else "-", label, api, code.name).inc()
    self.metrics.latency.labels(spec.name, api).observe(time.perf_counter() - started)
    if code != grpc.StatusCode.OK:
      context.abort(code, message)
    return served, outputs

  def _served(self, spec, context):
    try:
      return self._route(spec, context)[0]
    except LookupError as e:
      context.abort(grpc.StatusCode.NOT_FOUND, str(e.args[0] if e.args else e))

  def Predict(self, request, context):  # pylint: disable=invalid-name
    def examples_of():
      unknown = sorted(set(request.inputs) - {features.SERVING_INPUT})
      if unknown or features.SERVING_INPUT not in request.inputs:
        raise BadRequest(f"the signature takes one input, '{features.SERVING_INPUT}' (serialized tf.Examples); "
                         f"got {sorted(request.inputs)}")
      tensor = request.inputs[features.SERVING_INPUT]
      if tensor.dtype != types_pb2.DT_STRING:
        raise BadRequest(f"'{features.SERVING_INPUT}' must be DT_STRING, got {types_pb2.DataType.Name(tensor.dtype)}")
      limits_lib.check_example_count(len(tensor.string_val), self.limits)
      return list(tensor.string_val)

    served, outputs = self._predict("grpc_predict", request.model_spec, examples_of, context)
    response = predict_pb2.PredictResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = served.version
    response.model_spec.signature_name = features.SERVING_SIGNATURE
    wanted = set(request.output_filter) or set(outputs)
    for key, value in outputs.items():
      if key in wanted:
        response.outputs[key].CopyFrom(tensor_proto(value))
    return response

  def Classify(self, request, context):  # pylint: disable=invalid-name
    def examples_of():
      if request.input.WhichOneof("kind") != "example_list":
        raise BadRequest("Classify takes input.example_list (tf.Examples)")
      limits_lib.check_example_count(len(request.input.example_list.examples), self.limits)
      return [e.SerializeToString() for e in request.input.example_list.examples]

    served, outputs = self._predict("grpc_classify", request.model_spec, examples_of, context)
    response = classification_pb2.ClassificationResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = served.version
    response.model_spec.signature_name = features.SERVING_SIGNATURE
    vocabulary = served.model.metadata.labels
    for i, row in enumerate(outputs[features.PROBABILITIES]):
      classifications = response.result.classifications.add()
      if vocabulary:
        for label, p in zip(vocabulary, row):
          classifications.classes.add(label=label, score=float(p))
      else:
        classifications.classes.add(label=outputs[features.PREDICTED_LABEL][i].decode("utf-8", "replace"),
                                    score=float(outputs[features.PREDICTED_SCORE][i]))
    return response

  def GetModelMetadata(self, request, context):  # pylint: disable=invalid-name
    if list(request.metadata_field) != ["signature_def"]:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, "metadata_field must be ['signature_def'], got "
                    f"{list(request.metadata_field)}")
    served = self._served(request.model_spec, context)
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    signature.inputs[features.SERVING_INPUT].CopyFrom(meta_graph_pb2.TensorInfo(
        name="examples:0", dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=-1)])))
    for key, spec in served.model.serving_fn.structured_outputs.items():
      signature.outputs[key].CopyFrom(meta_graph_pb2.TensorInfo(
          name=f"{key}:0", dtype=spec.dtype.as_datatype_enum,
          tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[
              tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d) for d in spec.shape.as_list()])))
    signatures = get_model_metadata_pb2.SignatureDefMap()
    signatures.signature_def[features.SERVING_SIGNATURE].CopyFrom(signature)
    packed = any_pb2.Any()
    packed.Pack(signatures)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = request.model_spec.name
    response.model_spec.version.value = served.version
    response.metadata["signature_def"].CopyFrom(packed)
    return response

  def GetModelStatus(self, request, context):  # pylint: disable=invalid-name
    spec = request.model_spec
    try:
      entries = self.server.status(spec.name)
    except LookupError as e:
      context.abort(grpc.StatusCode.NOT_FOUND, str(e.args[0]))
    if spec.HasField("version") or spec.version_label:
      served = self._served(spec, context)
      entries = [e for e in entries if e["version"] == str(served.version)]
    response = get_model_status_pb2.GetModelStatusResponse()
    for entry in entries:
      status = response.model_version_status.add(version=int(entry["version"]),
                                                 state=getattr(get_model_status_pb2.ModelVersionStatus,
                                                               str(entry["state"])))
      status.status.error_message = entry["status"]["error_message"]
      status.status.error_code = 0 if entry["status"]["error_code"] == "OK" else 2  # OK / UNKNOWN
    return response


def start(server: ModelServer, metrics: Metrics, limits: limits_lib.RequestLimits, host: str, port: int,
          request_logger=None, workers: int = 32) -> grpc.Server:
  """Starts the gRPC server on host:port (in its own threads) and returns it; `stop(grace)` ends it."""
  grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelfab-grpc"),
                            options=[("grpc.max_receive_message_length", limits.max_body_bytes),
                                     ("grpc.max_send_message_length", 64 * 1024 * 1024)])
  service = _Service(server, metrics, limits, request_logger)
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(service, grpc_server)
  model_service_pb2_grpc.add_ModelServiceServicer_to_server(service, grpc_server)
  if grpc_server.add_insecure_port(f"{host}:{port}") == 0:
    raise OSError(f"cannot listen on {host}:{port} for gRPC")
  grpc_server.start()
  return grpc_server
