"""Trainer on a tiny separable problem: learning, the drop-path ramp, outputs, resume."""
import h5py
import numpy as np
import pytest

from nnabla_nas.runner.schema import OptimizerConfig, TrainConfig
from nnabla_nas.runner.trainer import Trainer
from tests.runner.tiny import Net, phase, splits

EPOCHS = 5
BATCH = 8
SAMPLES = 24  # 3 steps per epoch


def config(epochs=EPOCHS):
    return TrainConfig(epochs=epochs, batch_size=BATCH,
                       optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9,
                                                 weight_decay=1e-4, grad_clip=5.0))


def trainer(tmp_path, model=None, epochs=EPOCHS):
    return Trainer(phase(tmp_path, model or Net(), config(epochs), splits(SAMPLES)))


def test_training_decreases_the_loss(tmp_path):
    t = trainer(tmp_path)
    start = t.evaluate(t.data.train, "train")
    history = t.run()
    end = t.evaluate(t.data.train, "train")
    assert len(history) == EPOCHS
    assert end["loss"] < 0.2 * start["loss"]
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    assert end["error"] < 0.5 * start["error"]
    t.output.close()


def test_drop_path_prob_ramps_linearly_from_zero(tmp_path):
    top = 0.3
    model = Net(drop_path_prob=top)
    t = trainer(tmp_path, model)
    assert t.max_drop_path == top
    for epoch in range(EPOCHS):
        metrics = t.train_epoch(epoch)
        assert model.drop_path_prob == pytest.approx(top * epoch / EPOCHS)
        assert metrics["drop_path_prob"] == pytest.approx(top * epoch / EPOCHS)
    assert model.drop_path_history == pytest.approx([top * e / EPOCHS
                                                     for e in range(EPOCHS)])
    t.output.close()


def test_a_model_without_drop_path_is_left_alone(tmp_path):
    model = Net()
    t = trainer(tmp_path, model, epochs=1)
    metrics = t.train_epoch(0)
    assert model.drop_path_history == [] and "drop_path_prob" not in metrics
    t.output.close()


def test_train_writes_weights_and_returns_test_metrics(tmp_path):
    t = trainer(tmp_path, epochs=2)
    test = t.train()
    assert set(test) == {"loss", "error"}
    assert test == t.evaluate(t.data.test, "test")
    assert 0.0 <= test["error"] <= 1.0 and np.isfinite(test["loss"])
    with h5py.File(tmp_path / "weights.h5", "r") as f:
        assert set(f) == {"body"}
        for name, p in t.model.get_parameters().items():
            np.testing.assert_array_equal(f[name][()], p.d)
    t.output.close()


def test_a_rerun_resumes_from_the_last_checkpoint(tmp_path, monkeypatch):
    t = trainer(tmp_path, epochs=2)
    test = t.train()
    t.output.close()
    again = trainer(tmp_path, Net(seed=3), epochs=2)
    monkeypatch.setattr(again, "train_epoch", pytest.fail)
    assert again.train() == test
    assert again.history == t.history
    again.output.close()
