"""The shared Trainer: fit on Transform output, TensorBoard logs, resume from backup, export with raw-input serving."""
import numpy as np
import pytest
import tensorflow as tf

from core import features
from models import image_cnn, trainer
from inference import predict


def _hparams(**overrides):
  return image_cnn.hparams_from({"hparams": {"epochs": 6, "batch_size": 8, "augment": False, **overrides}})


@pytest.fixture(scope="module")
def trained(trained_image_model):
  history, work, export_dir, raw, hp = trained_image_model
  assert hp == _hparams()  # the settings these tests are about
  return history, work, export_dir, raw


def test_loss_falls_and_tensorboard_logs_are_written(trained):
  history, work, _, _ = trained
  assert history.history["loss"][-1] < history.history["loss"][0]
  assert history.history["val_accuracy"][-1] >= 0.9
  assert list((work / "logs" / "train").glob("events.out.tfevents.*"))
  assert list((work / "logs" / "validation").glob("events.out.tfevents.*"))
  assert not (work / "backup").exists() or not any((work / "backup").iterdir())  # removed after success


def test_exported_model_takes_raw_image_bytes(trained):
  _, _, export_dir, raw = trained
  outputs = predict.predict_serialized(str(export_dir), predict.serialized_examples(
      [{"image": r["image"]} for r in raw[:10]]))
  labels = [label.decode() for label in outputs[features.PREDICTED_LABEL]]
  assert labels == [r["label"].decode() for r in raw[:10]]
  loaded = tf.saved_model.load(str(export_dir))
  assert set(loaded.signatures) == {"serving_default", features.EVALUATION_SIGNATURE,
                                    features.TRANSFORM_FEATURES_SIGNATURE,
                                    features.TENSORS_SIGNATURE, features.EXAMPLES_TO_TENSORS_SIGNATURE,
                                    features.EXPLAIN_SIGNATURE, features.ACTIVATIONS_SIGNATURE,
                                    features.LAST_CONV_SIGNATURE}


def test_pixel_signature_has_the_transform_normalization_folded_in(trained):
  """uint8 pixels through `serving_tensors` give the probabilities that encoded bytes give through serving_default,
  and pixels a client decodes itself (PIL, not TensorFlow) give the same labels."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top

  _, _, export_dir, raw = trained
  loaded = tf.saved_model.load(str(export_dir))
  examples = tf.constant(predict.serialized_examples([{"image": r["image"]} for r in raw[:24]]))
  pixels = loaded.signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE](examples=examples)["pixels"]
  assert pixels.dtype == tf.uint8 and pixels.shape == (24, 8, 8, 1)
  from_pixels = loaded.signatures[features.TENSORS_SIGNATURE](pixels=pixels)["probabilities"].numpy()
  from_bytes = loaded.signatures["serving_default"](examples=examples)["probabilities"].numpy()
  np.testing.assert_allclose(from_pixels, from_bytes, atol=1e-4)
  client = np.stack([np.asarray(Image.open(io.BytesIO(r["image"])).convert("L"))[..., None] for r in raw[:24]])
  from_client = loaded.signatures[features.TENSORS_SIGNATURE](pixels=tf.constant(client))["probabilities"].numpy()
  assert (from_client.argmax(1) == from_bytes.argmax(1)).all()


class _Killed(Exception):
  pass


@pytest.mark.parametrize("dp", [False, True], ids=["plain", "dp-sgd"])
def test_killed_training_resumes_from_backup(transformed_dataset, tmp_path, monkeypatch, dp):
  """A killed run resumes after its last finished epoch; under DP-SGD the privacy spent counts every step taken,
  those before the kill too."""
  train_files, eval_files, transform_dir, _ = transformed_dataset
  make_callbacks = trainer.make_callbacks

  class KillAfterEpoch(tf.keras.callbacks.Callback):

    def on_epoch_end(self, epoch, logs=None):
      if epoch == 0:
        raise _Killed()

  monkeypatch.setattr(trainer, "make_callbacks", lambda *a: make_callbacks(*a) + [KillAfterEpoch()])
  dp_flags = {"dp_l2_clip": 1.0, "dp_noise_multiplier": 1.1} if dp else {}
  args = ("image_cnn", _hparams(epochs=3, **dp_flags), train_files, eval_files, transform_dir)
  kwargs = dict(log_dir=str(tmp_path / "logs"), backup_dir=str(tmp_path / "backup"), strategy_name="default")
  with pytest.raises(_Killed):
    trainer.train(*args, **kwargs)
  assert any((tmp_path / "backup").iterdir())
  monkeypatch.setattr(trainer, "make_callbacks", make_callbacks)
  _, history, _, privacy = trainer.train(*args, **kwargs)
  assert history.epoch == [1, 2]  # epoch 0 was not trained again
  if dp:
    spent = privacy["dp"]
    assert spent["steps"] == 3 * (round(8 / spent["sampling_rate"]) // 8)  # all 3 epochs, not the 2 after resuming
  else:
    assert privacy["dp"] is None and 0.0 <= privacy["membership_inference"]["auc"] <= 1.0


def test_backup_dir_is_stable_across_retries_and_changes_with_inputs():
  a = trainer.backup_dir_for("/root/Trainer/model_run/7", ["/x/Split-train/*"], {"hparams": {"epochs": 1}})
  b = trainer.backup_dir_for("/root/Trainer/model_run/9", ["/x/Split-train/*"], {"hparams": {"epochs": 1}})
  c = trainer.backup_dir_for("/root/Trainer/model_run/9", ["/x/Split-train/*"], {"hparams": {"epochs": 2}})
  assert a == b != c and a.startswith("/root/Trainer/backup/")


def test_activation_maps_give_each_block_s_output_and_the_first_filters(trained):
  _, _, export_dir, raw = trained
  loaded = tf.saved_model.load(str(export_dir))
  examples = tf.constant(predict.serialized_examples([{"image": r["image"]} for r in raw[:3]]))
  pixels = tf.cast(loaded.signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE](examples=examples)["pixels"], tf.float32)
  maps = loaded.signatures[features.ACTIVATIONS_SIGNATURE](pixels=pixels)
  filters = _hparams()["conv_filters"]
  assert maps[features.FIRST_FILTERS].shape == (3, 3, 1, filters[0])
  blocks = sorted(k for k in maps if k != features.FIRST_FILTERS)
  assert [maps[k].shape[-1] for k in blocks] == filters and maps[blocks[0]].shape[:3] == (3, 8, 8)
  assert all(float(tf.reduce_min(maps[k])) >= 0 for k in blocks)  # after ReLU
  assert float(tf.reduce_max(maps[blocks[-1]])) > 0
