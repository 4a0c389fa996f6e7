"""Presets and overrides."""
import pytest

from pipelines import config, fingerprint


def test_preset_overrides_merge_hparams_and_ignore_none():
  base = config.PRESETS["digits-cnn"]
  c = config.preset("digits-cnn", output="/tmp/x", strategy=None, hparams={"epochs": 3, "batch_size": None})
  assert c.output == "/tmp/x" and c.strategy == base.strategy
  assert c.hparams == {**base.hparams, "epochs": 3}
  assert config.PRESETS["digits-cnn"].output == base.output  # the preset itself is untouched


def test_paths_live_under_output():
  c = config.preset("digits-cnn", output="out").resolved()
  assert c.pipeline_root.endswith("out/pipeline")
  assert c.metadata_path.endswith("out/metadata.sqlite")
  assert c.serving_dir.endswith("out/serving/digits-cnn")


def test_unknown_preset_and_format_are_refused():
  with pytest.raises(ValueError, match="digits-cnn"):
    config.preset("nope")
  with pytest.raises(ValueError, match="image_folder, tfrecord"):
    config.preset("digits-cnn", data_format="csv")


def test_module_config_carries_task_hparams_and_code_fingerprint():
  c = config.preset("digits-cnn", hparams={"epochs": 2})
  module_config = c.module_custom_config()
  assert module_config["task"] == "image_cnn" and module_config["hparams"]["epochs"] == 2
  assert module_config["code_fingerprint"] == fingerprint.code_fingerprint()
  assert len(module_config["code_fingerprint"]) == 16


def test_default_beam_args_follow_data_size():
  assert config.default_beam_args(1797) == []  # the embedded digits: one process measured fastest
  multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
  assert config.default_beam_args(config.AUTO_MULTI_PROCESSING_EXAMPLES) == multi
  assert config.default_beam_args(None) == multi  # remote data of unknown size


def test_cifar_preset_needs_data_and_is_a_residual_rgb_model():
  with pytest.raises(ValueError, match="--data is required: the cifar-resnet preset has no embedded data"):
    config.preset("cifar-resnet").check_settings()
  c = config.preset("cifar-resnet", data="/some/images")
  c.check_settings()
  assert c.task == "image_cnn" and c.hparams["residual"] and (c.hparams["image_size"], c.hparams["channels"]) == (32, 3)


def test_span_settings_are_checked():
  with pytest.raises(ValueError, match="--spans needs a span pattern in --data"):
    config.preset("digits-cnn", spans="2").check_settings()
  with pytest.raises(ValueError, match="--spans 'yesterday'"):
    config.preset("digits-cnn", data="in/span-{SPAN}", spans="yesterday").check_settings()
  with pytest.raises(ValueError, match="--allow-drift applies to data in spans"):
    config.preset("digits-cnn", allow_drift=True).check_settings()
  with pytest.raises(ValueError, match="--drift-jsd must be above 0.0"):
    config.preset("digits-cnn", data="in/span-{SPAN}", drift_jsd=0.0).check_settings()
  config.preset("digits-cnn", data="in/span-{SPAN}", spans="2-4", allow_drift=True).check_settings()


def test_bulk_infer_needs_an_input_that_exists(tmp_path):
  with pytest.raises(ValueError, match=r"--bulk-infer .*missing: no such file or folder"):
    config.preset("digits-cnn", bulk_infer=str(tmp_path / "missing")).check_settings()
  config.preset("digits-cnn", bulk_infer=str(tmp_path)).check_settings()


def test_warm_start_settings():
  with pytest.raises(ValueError, match="--warm-start and --prune-sparsity exclude each other"):
    config.preset("digits-cnn", warm_start=True, hparams={"prune_sparsity": 0.5}).check_settings()
  with pytest.raises(ValueError, match="not with --tune"):
    config.preset("digits-cnn", warm_start=True, tune=True).check_settings()
  assert config.preset("digits-cnn", warm_start_from="/m/3").module_custom_config()["warm_start_from"] == "/m/3"
  assert "warm_start_from" not in config.preset("digits-cnn").module_custom_config()
