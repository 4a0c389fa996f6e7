"""The task registry and the interface every task module provides."""
import pytest

from models import tasks


@pytest.mark.parametrize("name", tasks.TASKS)
def test_task_modules_provide_the_interface(name):
  task = tasks.get_task(name)
  for attribute in ("DEFAULT_HPARAMS", "TRANSFORM_HPARAMS", "SERVING_FEATURE_KEYS", "hparams_from",
                    "preprocessing_fn", "build_model"):
    assert hasattr(task, attribute), attribute
  assert set(task.TRANSFORM_HPARAMS) <= set(task.DEFAULT_HPARAMS)
  assert {"epochs", "batch_size", "learning_rate", "early_stopping_patience"} <= set(task.DEFAULT_HPARAMS)


def test_unknown_task_is_refused():
  with pytest.raises(ValueError, match="image_cnn"):
    tasks.get_task("speech")
