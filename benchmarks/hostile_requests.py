"""Hostile requests against `modelfab serve`: 8 clients send decompression bombs, oversized bodies, deeply nested
JSON and too many examples (REST and gRPC) while a ninth sends good requests; every bad one must be refused with a
4xx (or gRPC's INVALID_ARGUMENT / RESOURCE_EXHAUSTED) naming the limit, every good one answered, and the server's
memory must stay under twice its idle size.

  python benchmarks/hostile_requests.py --output modelfab-output [--model digits-cnn] [--seconds 60] [--write-results]

Also used by tests/serving/test_hostile_requests.py for a shorter run.
"""
from __future__ import annotations

import argparse
import base64
import collections
import http.client
import io
import json
import os
import pathlib
import socket
import sys
import threading
import time
from typing import Dict

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LIMIT_WORDS = ("--max-image-pixels", "--max-body-mb", "--max-json-depth", "--max-examples")


def rss_mib(pid: int) -> float:
  with open(f"/proc/{pid}/status", encoding="utf-8") as f:
    return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024


def _png(width: int, height: int) -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top

  buffer = io.BytesIO()
  Image.new("L", (width, height)).save(buffer, format="PNG")
  return buffer.getvalue()


def _post(port: int, path: str, body: bytes):
  connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
  try:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()
  except (ConnectionError, socket.timeout) as e:  # a server may close on a refused 50 MB body mid-send
    return "closed", str(e).encode()
  finally:
    connection.close()


def hostile_requests() -> Dict[str, bytes]:
  b64 = lambda data: base64.b64encode(data).decode()
  bomb = _png(20_000, 20_000)
  return {
      "decompression bomb": json.dumps({"examples": [{"image": {"b64": b64(bomb)}}]}).encode(),
      "50 MB body": b'{"examples": [{"image": {"b64": "' + b"A" * (50 * 1024 * 1024) + b'"}}]}',
      "JSON 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
      "1,000 examples": json.dumps({"examples": [{"image": {"b64": b64(_png(8, 8))}}] * 1000}).encode(),
  }


def hammer(port: int, grpc_port: int, model: str, pid: int, seconds: float, good_image: bytes) -> Dict[str, object]:
  """Runs the attack for `seconds`; returns counts, refusals that did not name a limit, good failures and memory."""
  import grpc  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top

  from inference import predict  # pylint: disable=g-import-not-at-top

  idle = rss_mib(pid)
  attacks = list(hostile_requests().items())
  bomb_example = predict.serialized_examples([{"image": _png(20_000, 20_000)}])
  grpc_bomb = predict_pb2.PredictRequest()
  grpc_bomb.model_spec.name = model
  grpc_bomb.inputs["examples"].CopyFrom(tf.make_tensor_proto(bomb_example, dtype=tf.string))
  grpc_huge = predict_pb2.PredictRequest()
  grpc_huge.model_spec.name = model
  grpc_huge.inputs["examples"].CopyFrom(tf.make_tensor_proto([b"x" * (20 * 1024 * 1024)], dtype=tf.string))
  refused, unnamed, accepted = collections.Counter(), [], []
  good = {"ok": 0, "failed": []}
  peak = [idle]
  deadline = time.time() + seconds
  path = f"/v1/models/{model}:classify"

  def attacker(n: int):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
    i = n
    while time.time() < deadline:
      i += 1
      if i % 5 == 4:
        name, request = ("gRPC bomb", grpc_bomb) if i % 2 else ("gRPC 20 MB message", grpc_huge)
        try:
          stub.Predict(request, timeout=60)
          accepted.append(name)
        except grpc.RpcError as e:
          refused[name] += 1
          if e.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED):
            unnamed.append((name, e.code().name, e.details()))
        continue
      name, body = attacks[i % len(attacks)]
      status, answer = _post(port, path, body)
      if status == 200:
        accepted.append(name)
        continue
      refused[name] += 1
      if status == "closed" and name == "50 MB body":
        continue
      if not (isinstance(status, int) and 400 <= status < 500) or not any(w.encode() in answer for w in LIMIT_WORDS):
        unnamed.append((name, status, answer[:200]))

  def good_client():
    body = json.dumps({"examples": [{"image": {"b64": base64.b64encode(good_image).decode()}}]}).encode()
    while time.time() < deadline:
      status, answer = _post(port, path, body)
      if status == 200:
        good["ok"] += 1
      else:
        good["failed"].append((status, answer[:200]))
      time.sleep(0.05)

  def watch_memory():
    while time.time() < deadline:
      peak[0] = max(peak[0], rss_mib(pid))
      time.sleep(0.2)

  threads = [threading.Thread(target=attacker, args=(n,)) for n in range(8)]
  threads += [threading.Thread(target=good_client), threading.Thread(target=watch_memory)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  return {"seconds": seconds, "refused": dict(refused), "accepted": accepted, "unnamed": unnamed[:5],
          "good_ok": good["ok"], "good_failed": good["failed"][:5], "idle_mib": idle, "peak_mib": peak[0],
          "after_mib": rss_mib(pid)}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output", default="modelfab-output")
  parser.add_argument("--model", default="digits-cnn")
  parser.add_argument("--seconds", type=float, default=60)
  parser.add_argument("--write-results", action="store_true")
  args = parser.parse_args()
  from benchmarks.serve_benchmark import start_server  # pylint: disable=g-import-not-at-top

  server, port, grpc_port = start_server(args.output, args.model)
  good_image = (REPO / "data" / "digits" / "3" / "0003.png").read_bytes()
  try:
    time.sleep(2)  # idle memory after the warm-up
    result = hammer(port, grpc_port, args.model, server.pid, args.seconds, good_image)
  finally:
    server.terminate()
    server.wait(timeout=30)
  print(json.dumps(result, indent=2))
  ok = not result["accepted"] and not result["unnamed"] and not result["good_failed"] and \
      result["peak_mib"] < 2 * result["idle_mib"]
  print(f"{sum(result['refused'].values())} hostile requests refused, {len(result['accepted'])} accepted, "
        f"{len(result['unnamed'])} refused without naming a limit; {result['good_ok']} good requests answered, "
        f"{len(result['good_failed'])} failed; memory {result['idle_mib']:.0f} MiB idle, {result['peak_mib']:.0f} MiB "
        f"peak ({result['peak_mib'] / result['idle_mib']:.2f}x; target < 2x): {'PASS' if ok else 'FAIL'}")
  if args.write_results:
    from benchmarks import results  # pylint: disable=g-import-not-at-top

    rows = "\n".join(f"| {name} | {count} |" for name, count in sorted(result["refused"].items()))
    body = (f"`modelfab serve` (default limits) on {args.model}; 8 clients send hostile requests for "
            f"{args.seconds:g} s, a ninth sends a good `:classify` every 50 ms.\n\n"
            f"| hostile request | refused |\n|---|---|\n{rows}\n\n"
            f"- accepted: {len(result['accepted'])}; refused without naming the limit: {len(result['unnamed'])}\n"
            f"- good requests: {result['good_ok']} answered, {len(result['good_failed'])} failed\n"
            f"- server memory (RSS): {result['idle_mib']:.0f} MiB idle, {result['peak_mib']:.0f} MiB peak "
            f"({result['peak_mib'] / result['idle_mib']:.2f}x), {result['after_mib']:.0f} MiB after")
    results.write_section("hostile", "Hostile requests", f"python benchmarks/hostile_requests.py --output DIR "
                          f"--model {args.model} --seconds {args.seconds:g} --write-results", body)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
