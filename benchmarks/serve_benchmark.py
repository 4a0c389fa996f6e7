"""Serving benchmark: `modelfab serve` over REST and gRPC at concurrency 1, 8 and 32, beside the in-process call.

  python benchmarks/serve_benchmark.py --output modelfab-output [--model digits-cnn] [--requests 400]

Uses the newest pushed version of the model under <output>/serving (run `make demo` first for digits-cnn). Each
request classifies one raw example (an embedded digit PNG, or a review sentence for a text model). Loopback only;
every loop is bounded by --requests. REST sends `:classify` JSON; gRPC sends TF Serving's `Predict` with the
serialized tf.Example (each client thread on its own channel). Targets: REST at concurrency 1 within 1.5x of the
in-process call, gRPC within 1.3x; throughput at 32 at least 2x that at 1.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import core  # noqa: E402,F401  # pylint: disable=g-import-not-at-top,unused-import,wrong-import-position  # legacy Keras


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _post(port: int, path: str, body: bytes) -> int:
  connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
  connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
  response = connection.getresponse()
  response.read()
  connection.close()
  return response.status


def start_server(output: str, model: str):
  """`modelfab serve` for `model` in a subprocess, REST and gRPC on free loopback ports, once it is ready (/readyz);
  returns (process, REST port, gRPC port)."""
  port, grpc_port = _free_port(), _free_port()
  process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", output, "--model", model,
                              "--port", str(port), "--grpc-port", str(grpc_port)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 180
  while True:
    try:
      connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
      connection.request("GET", "/readyz")
      if connection.getresponse().status == 200:
        return process, port, grpc_port
    except OSError:
      pass
    if process.poll() is not None or time.time() > deadline:
      process.kill()
      raise RuntimeError("the server did not come up")
    time.sleep(0.5)


def _percentile(values, q):
  ordered = sorted(values)
  return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output", default="modelfab-output")
  parser.add_argument("--model", default="digits-cnn")
  parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
  args = parser.parse_args()

  from core.layout import OutputLayout  # pylint: disable=g-import-not-at-top
  from inference import model_loader, predict  # pylint: disable=g-import-not-at-top

  loaded = model_loader.load_model(OutputLayout(args.output).serving_dir(args.model))
  if loaded.metadata.modality == "text":
    value = "A warm, funny film with a great cast.".encode()
    feature = {"text": value.decode()}
  else:
    value = (REPO / "data" / "digits" / "3" / "0003.png").read_bytes()
    feature = {"image": {"b64": base64.b64encode(value).decode()}}
  key = loaded.metadata.input_feature
  examples = predict.serialized_examples([{key: value}])

  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  batch = tf.constant(examples)
  for _ in range(20):
    loaded.serving_fn(examples=batch)
  in_process = []
  for _ in range(200):
    started = time.perf_counter()
    loaded.serving_fn(examples=batch)
    in_process.append(time.perf_counter() - started)
  in_process_ms = statistics.median(in_process) * 1000

  path = f"/v1/models/{args.model}:classify"
  body = json.dumps({"examples": [feature]}).encode()
  import grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top

  request = predict_pb2.PredictRequest()
  request.model_spec.name = args.model
  request.inputs["examples"].CopyFrom(tf.make_tensor_proto(examples, dtype=tf.string))

  def grpc_client():
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))

    def call():
      try:
        stub.Predict(request, timeout=60)
        return 200
      except grpc.RpcError as e:
        return e.code().name
    return call

  def rest_client():
    return lambda: _post(port, path, body)

  server, port, grpc_port = start_server(args.output, args.model)
  results = {}
  try:
    for protocol, make_client in (("rest", rest_client), ("grpc", grpc_client)):
      warm = make_client()
      for _ in range(50):
        warm()
      results[protocol] = [_level(make_client, concurrency, max(1, args.requests // concurrency))
                           for concurrency in (1, 8, 32)]
  finally:
    server.terminate()
    server.wait(timeout=30)
  print(f"{args.model}: in-process serving_default, batch 1: {in_process_ms:.2f} ms (median of 200)")
  targets = {"rest": 1.5, "grpc": 1.3}
  for protocol, levels in results.items():
    print(f"{protocol}:\n{'concurrency':>11} {'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failures':>8}")
    for r in levels:
      print(f"{r['concurrency']:>11} {r['requests_per_s']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['failures']:>8}")
    one = levels[0]
    print(f"{protocol} latency at concurrency 1 / in-process: {one['p50_ms'] / in_process_ms:.2f} "
          f"(target <= {targets[protocol]})")
    print(f"{protocol} throughput at 32 / at 1: {levels[-1]['requests_per_s'] / one['requests_per_s']:.2f} "
          "(target >= 2)")
  print(json.dumps({"model": args.model, "in_process_ms": in_process_ms, "levels": results}))
  return 0


def _level(make_client, concurrency: int, per_client: int):
  """Requests/s and latency percentiles of `concurrency` clients sending `per_client` requests each."""
  latencies, failures = [], []

  def client():
    call = make_client()
    for _ in range(per_client):
      started = time.perf_counter()
      status = call()
      latencies.append(time.perf_counter() - started)
      if status != 200:
        failures.append(status)

  threads = [threading.Thread(target=client) for _ in range(concurrency)]
  started = time.perf_counter()
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  wall = time.perf_counter() - started
  return {"concurrency": concurrency, "requests": len(latencies), "failures": len(failures),
          "requests_per_s": len(latencies) / wall,
          "p50_ms": _percentile(latencies, 0.5) * 1000, "p99_ms": _percentile(latencies, 0.99) * 1000}


if __name__ == "__main__":
  sys.exit(main())
