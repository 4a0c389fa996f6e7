"""Compiling `create_pipeline` for Kubeflow Pipelines v2 / Vertex AI, with the network cut off."""
import json
import re
import socket

import kfp.components
import pytest
import yaml

from cli import main as cli
from pipelines import config, kubeflow_v2_runner

IMAGE = "us-docker.pkg.dev/my-project/modelfab/modelfab:0.1.0"
ROOT = "gs://my-bucket/modelfab"
BEAM = ["--runner=DataflowRunner", "--project=my-project", "--region=us-central1",
        f"--sdk_container_image={IMAGE}"]
COMPONENTS = {"ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomaliesGate", "Transform",
              "Trainer", "baseline_resolver-model-resolver", "baseline_resolver-model-blessing-resolver",
              "Evaluator", "ServingCheck", "Explainer", "Quantizer", "OnnxExporter", "Pusher"}
BEAM_COMPONENTS = {"ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Evaluator"}


@pytest.fixture
def no_network(monkeypatch):
  """Any attempt to open a connection (GCS, a registry, ...) fails the test."""
  def refuse(*args, **kwargs):
    raise AssertionError(f"compiling tried to reach the network: {args}")
  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _compile(tmp_path, name, *extra):
  output = tmp_path / name
  assert cli.main(["compile", "--output", str(output), "--image", IMAGE, "--pipeline-root", ROOT,
                   "--epochs", "7", "--strategy", "mirrored", *(f"--beam-arg={a}" for a in BEAM), *extra]) == 0
  return output


def _constant(task, name):
  return task["inputs"]["parameters"][name]["runtimeValue"]["constant"]


def test_yaml_loads_in_kfp_with_every_component_dependencies_image_and_args(tmp_path, no_network, capsys):
  output = _compile(tmp_path, "pipeline.yaml")
  assert "Kubeflow Pipelines v2 PipelineSpec" in capsys.readouterr().out
  component = kfp.components.load_component_from_file(str(output))
  assert component.name == "digits-cnn"
  tasks = component.pipeline_spec.root.dag.tasks
  assert set(tasks) == COMPONENTS
  depends = {name: set(task.dependent_tasks) for name, task in tasks.items()}
  assert depends["StatisticsGen"] == {"ImageExampleGen"}
  assert depends["AnomaliesGate"] == {"ExampleValidator"}
  assert depends["Transform"] == {"ImageExampleGen", "SchemaGen", "AnomaliesGate"}  # stops on anomalies
  assert depends["Trainer"] == {"ImageExampleGen", "Transform", "SchemaGen"}  # raw examples + the graph
  assert depends["Evaluator"] == {"ImageExampleGen", "Trainer", "baseline_resolver-model-resolver"}
  assert depends["ServingCheck"] == {"ImageExampleGen", "Trainer"}
  assert depends["Explainer"] == {"ImageExampleGen", "Trainer", "Evaluator"}
  assert depends["Quantizer"] == {"ImageExampleGen", "Trainer"}
  assert depends["OnnxExporter"] == {"ImageExampleGen", "Trainer"}
  assert depends["Pusher"] == {"Evaluator", "Trainer", "ServingCheck", "Quantizer", "OnnxExporter",
                               "StatisticsGen", "ImageExampleGen"}  # + model card, outlier profile

  spec = yaml.safe_load(output.read_text())
  executors = spec["deploymentSpec"]["executors"]
  containers = {name[:-len("_executor")]: e["container"] for name, e in executors.items() if "container" in e}
  assert set(containers) >= COMPONENTS - {"baseline_resolver-model-resolver",
                                          "baseline_resolver-model-blessing-resolver"}
  assert {c["image"] for c in containers.values()} == {IMAGE}
  for name in BEAM_COMPONENTS:
    assert all(arg in containers[name]["args"] for arg in BEAM), name
  assert "components.image_example_gen.Executor" in containers["ImageExampleGen"]["args"]

  dag = spec["root"]["dag"]["tasks"]
  trainer_config = json.loads(_constant(dag["Trainer"], "custom_config"))
  assert trainer_config["strategy"] == "mirrored" and trainer_config["hparams"]["epochs"] == 7
  assert _constant(dag["Trainer"], "run_fn") == "models.trainer.run_fn"
  assert _constant(dag["Transform"], "preprocessing_fn") == "models.image_cnn.preprocessing_fn"
  assert _constant(dag["ImageExampleGen"], "input_base") == "/modelfab/data/digits"  # the data inside the image
  assert _constant(dag["Quantizer"], "quantize") == "int8"  # the preset's
  assert "components.quantizer" in json.dumps(executors)
  push = json.loads(_constant(dag["Pusher"], "push_destination"))
  assert push["filesystem"]["base_directory"] == f"{ROOT}/serving/digits-cnn"


def test_json_is_a_vertex_pipeline_job(tmp_path, no_network):
  job = json.loads(_compile(tmp_path, "pipeline.json").read_text())
  assert job["runtimeConfig"]["gcsOutputDirectory"] == f"{ROOT}/pipeline"
  assert set(job["pipelineSpec"]["root"]["dag"]["tasks"]) == COMPONENTS


def test_without_beam_args_containers_use_all_their_cores(tmp_path, no_network):
  output = tmp_path / "default.yaml"
  assert cli.main(["compile", "--output", str(output), "--image", IMAGE, "--pipeline-root", ROOT]) == 0
  executors = yaml.safe_load(output.read_text())["deploymentSpec"]["executors"]
  args = executors["Transform_executor"]["container"]["args"]
  assert "--direct_running_mode=multi_processing" in args and "--direct_num_workers=0" in args


def test_several_workers_train_as_a_vertex_job_under_multi_worker_strategy(tmp_path, no_network):
  output = _compile(tmp_path, "workers.yaml", "--strategy", "auto", "--workers", "3", "--project", "my-project",
                    "--region", "europe-west4", "--machine-type", "n1-highmem-8")
  spec = yaml.safe_load(output.read_text())
  trainer_config = json.loads(_constant(spec["root"]["dag"]["tasks"]["Trainer"], "custom_config"))
  assert trainer_config["strategy"] == "multi_worker"
  assert trainer_config["ai_platform_enable_vertex"] is True
  assert trainer_config["ai_platform_vertex_region"] == "europe-west4"
  pools = trainer_config["ai_platform_training_args"]["worker_pool_specs"]
  assert [p["replica_count"] for p in pools] == [1, 2]
  assert {p["container_spec"]["image_uri"] for p in pools} == {IMAGE}
  assert {p["machine_spec"]["machine_type"] for p in pools} == {"n1-highmem-8"}
  assert "google_cloud_ai_platform.trainer.executor" in \
      spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["args"][1]


@pytest.mark.parametrize("args, message", [
    (["--output", "p.txt"], "must end in .yaml"),
    (["--workers", "2"], "needs --project, --region"),
    (["--workers", "2", "--strategy", "mirrored", "--project", "p", "--region", "r"], "need strategy multi_worker"),
    (["--data", "gs://bucket/digits"], "--num-classes"),
])
def test_bad_compile_options_are_usage_errors(tmp_path, capsys, args, message):
  argv = ["compile", "--image", IMAGE, "--pipeline-root", ROOT, "--output", str(tmp_path / "p.yaml")]
  assert cli.main(argv + args) == cli.EXIT_USAGE
  assert message in capsys.readouterr().err


def test_repository_paths_map_into_the_image():
  assert kubeflow_v2_runner.in_container(str(config.DATA_DIR / "reviews")) == "/modelfab/data/reviews"
  assert kubeflow_v2_runner.in_container("gs://bucket/data") == "gs://bucket/data"


def test_dockerfile_pins_tfx_installs_the_lock_and_every_package():
  dockerfile = (config.REPO_ROOT / "Dockerfile").read_text()
  pyproject = (config.REPO_ROOT / "pyproject.toml").read_text()
  tfx_version = pyproject.split('"tfx[kfp]==', 1)[1].split('"', 1)[0]
  assert f"FROM gcr.io/tfx-oss-public/tfx:{tfx_version} AS pipeline\n" in dockerfile
  assert "COPY requirements.lock" in dockerfile and "-r requirements.lock" in dockerfile
  packages = re.search(r"include = \[(.*?)\]", pyproject).group(1)
  for package in [p.strip().strip('"*') for p in packages.split(",")] + ["data"]:  # every package, the embedded data
    assert f"COPY {package} ./{package}" in dockerfile, package
  assert f"WORKDIR {kubeflow_v2_runner.CONTAINER_ROOT}" in dockerfile


def test_tune_adds_the_tuner_before_the_trainer(tmp_path, no_network):
  output = _compile(tmp_path, "tuned.yaml", "--tune", "--tune-trials", "4", "--tune-algorithm", "bayesian")
  spec = yaml.safe_load(output.read_text())
  dag = spec["root"]["dag"]["tasks"]
  assert "Tuner" in dag and "Tuner" in dag["Trainer"]["dependentTasks"]
  assert _constant(dag["Tuner"], "tuner_fn") == "models.tuner.tuner_fn"
  tune = json.loads(_constant(dag["Tuner"], "custom_config"))["tune"]
  assert tune == {"trials": 4, "algorithm": "bayesian", "max_minutes": 30.0}
  assert "components.hparam_tuner.Executor" in json.dumps(spec["deploymentSpec"]["executors"])
