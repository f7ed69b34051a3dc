"""Checkpoints: run-state encoding, save/load, pruning, damage detection and fallback."""
import hashlib
import json
import os
from collections import OrderedDict

import numpy as np
import pytest

from nnabla_nas.module import Parameter
from nnabla_nas.runner.checkpoint import (KEEP, Checkpointer, CheckpointError, decode,
                                          encode)
from nnabla_nas.runner.optimizer import Optimizer
from nnabla_nas.runner.schema import OptimizerConfig

CONFIG = OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, weight_decay=0.0,
                         grad_clip=0.0, schedule="constant")


def through_json(value):
    return decode(json.loads(json.dumps(encode(value))))


def assert_same(a, b):
    """Equal values of equal types, recursively (arrays: dtype, shape and values)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (a, b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    else:
        assert a == b


def test_nested_state_round_trips_through_json_with_dtypes_and_tuples():
    rng = np.random.RandomState(0)
    state = {
        "epoch": 3,
        "elapsed": 1.25,
        "name": "x",
        "none": None,
        "history": [{"loss": 0.5, "error": 0.25}, {"loss": 0.4, "error": 0.2}],
        "arrays": {"f32": rng.randn(2, 3).astype(np.float32),
                   "f64": rng.randn(4),
                   "i64": np.arange(5, dtype=np.int64),
                   "u32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
                   "scalar": np.array(2.5, dtype=np.float32)},
        "pair": (1, (2.0, "three"), [np.int32(4)]),
    }
    back = through_json(state)
    expected = dict(state, pair=(1, (2.0, "three"), [4]))  # numpy scalars become numbers
    assert_same(back, expected)


def test_empty_multidimensional_arrays_keep_their_shape():
    back = through_json({"empty": np.zeros((0, 3), dtype=np.float32)})
    assert_same(back, {"empty": np.zeros((0, 3), dtype=np.float32)})


def test_numpy_random_state_round_trips_and_continues_the_same_stream():
    rng = np.random.RandomState(7)
    rng.randn(3)
    rng.standard_normal()  # leaves a cached gaussian in the state
    saved = rng.get_state()
    back = through_json(saved)
    assert_same(back, saved)
    other = np.random.RandomState(0)
    other.set_state(back)
    np.testing.assert_array_equal(other.randn(10), rng.randn(10))


# ----------------------------------------------------------------- Checkpointer


def make_params(seed=0, shape=(3, 2)):
    rng = np.random.RandomState(seed)
    return OrderedDict([("a/W", Parameter(shape, initializer=rng.randn(*shape)
                                          .astype(np.float32))),
                        ("a/b", Parameter((4,), initializer=rng.randn(4)
                                          .astype(np.float32)))])


def step(params, opt, seed):
    rng = np.random.RandomState(seed)
    for p in params.values():
        p.g = rng.randn(*p.shape).astype(np.float32)
    opt.update(seed)


def saved_run(root, epochs=1):
    """A checkpointer under ``root`` after ``epochs`` saves; returns it, the params,
    the optimizer and each epoch's (params, state) snapshot."""
    params = make_params()
    opt = Optimizer(CONFIG, params, total_steps=10)
    ck = Checkpointer(str(root))
    snapshots = []
    for epoch in range(epochs):
        step(params, opt, epoch)
        state = {"epoch": epoch, "history": [{"loss": 1.0 / (epoch + 1)}]}
        ck.save(f"epoch-{epoch + 1:05d}", params, {"net": opt}, state)
        snapshots.append(({k: p.d.copy() for k, p in params.items()}, state))
    return ck, params, opt, snapshots


def test_load_restores_parameters_and_optimizer_state_and_returns_the_state(tmp_path):
    ck, params, opt, snapshots = saved_run(tmp_path, epochs=1)
    values, state = snapshots[0]

    restored = make_params(seed=5)
    restored_opt = Optimizer(CONFIG, restored, total_steps=10)
    loaded = ck.load("epoch-00001", restored, {"net": restored_opt})
    assert loaded == state
    for k in params:
        np.testing.assert_array_equal(restored[k].d, values[k])
    # The momentum buffer came back: the next updates are identical.
    step(params, opt, 10)
    step(restored, restored_opt, 10)
    for k in params:
        np.testing.assert_array_equal(restored[k].d, params[k].d)


def test_latest_names_the_newest_and_only_KEEP_are_kept(tmp_path):
    ck, _, _, _ = saved_run(tmp_path, epochs=4)
    assert KEEP == 2
    assert ck.latest() == "epoch-00004"
    assert sorted(os.listdir(tmp_path)) == ["epoch-00003", "epoch-00004", "latest"]
    assert (tmp_path / "latest").read_text().strip() == "epoch-00004"
    assert ck.verify("epoch-00004") is None and ck.verify("epoch-00003") is None


def test_no_checkpoint_at_all_is_none(tmp_path):
    assert Checkpointer(str(tmp_path / "none")).latest() is None


def test_save_leaves_no_temporary_folder(tmp_path):
    saved_run(tmp_path, epochs=3)
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    for tag in ("epoch-00002", "epoch-00003"):
        assert sorted(os.listdir(tmp_path / tag)) == ["manifest.json", "net.opt.npz",
                                                      "params.npz", "state.json"]


class BrokenOptimizer:
    def state_arrays(self):
        raise OSError("disk full")


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_folder(tmp_path):
    ck, params, _, _ = saved_run(tmp_path, epochs=1)
    with pytest.raises(OSError, match="disk full"):
        ck.save("epoch-00002", params, {"net": BrokenOptimizer()}, {"epoch": 1})
    assert sorted(os.listdir(tmp_path)) == ["epoch-00001", "latest"]
    assert ck.latest() == "epoch-00001"
    assert (tmp_path / "latest").read_text().strip() == "epoch-00001"


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def alter_state(path):
    state = json.loads(path.read_text())
    state["epoch"] = 99
    path.write_text(json.dumps(state))


@pytest.mark.parametrize("damage, name", [(truncate, "params.npz"),
                                          (alter_state, "state.json")])
def test_damaged_newest_checkpoint_is_detected_and_the_previous_one_used(tmp_path, damage,
                                                                         name):
    ck, _, _, snapshots = saved_run(tmp_path, epochs=2)
    damage(tmp_path / "epoch-00002" / name)
    problem = ck.verify("epoch-00002")
    assert problem is not None and name in problem and "checksum mismatch" in problem
    assert ck.verify("epoch-00001") is None

    warnings = []
    assert ck.latest(warn=warnings.append) == "epoch-00001"
    assert len(warnings) == 1 and "epoch-00002" in warnings[0] and name in warnings[0]
    restored = make_params(seed=5)
    state = ck.load("epoch-00001", restored, {"net": Optimizer(CONFIG, restored, 10)})
    values, expected_state = snapshots[0]
    assert state == expected_state
    for k, p in restored.items():
        np.testing.assert_array_equal(p.d, values[k])


def test_missing_file_is_detected(tmp_path):
    ck, _, _, _ = saved_run(tmp_path, epochs=1)
    os.remove(tmp_path / "epoch-00001" / "net.opt.npz")
    assert "net.opt.npz: missing" in ck.verify("epoch-00001")


def test_every_checkpoint_damaged_raises(tmp_path):
    ck, _, _, _ = saved_run(tmp_path, epochs=2)
    truncate(tmp_path / "epoch-00001" / "params.npz")
    alter_state(tmp_path / "epoch-00002" / "state.json")
    warnings = []
    with pytest.raises(CheckpointError, match="no intact checkpoint") as info:
        ck.latest(warn=warnings.append)
    assert "epoch-00001" in str(info.value) and "epoch-00002" in str(info.value)
    assert len(warnings) == 2


def test_loading_into_parameters_of_another_shape_raises(tmp_path):
    # A user-facing CheckpointError (main.py reports it in one line), naming the key.
    ck, _, _, _ = saved_run(tmp_path, epochs=1)
    other = make_params(seed=5, shape=(2, 3))
    before = {k: p.d.copy() for k, p in other.items()}
    with pytest.raises(CheckpointError, match="does not fit this run.*a/W"):
        ck.load("epoch-00001", other, {"net": Optimizer(CONFIG, other, 10)})
    for k, p in other.items():  # all or nothing
        np.testing.assert_array_equal(p.d, before[k])


def test_arrays_saved_before_shapes_were_recorded_still_decode():
    old = {"__ndarray__": [[1, 2], [3, 4]], "dtype": "int64"}
    np.testing.assert_array_equal(decode(old), np.array([[1, 2], [3, 4]]))


ADAM = OptimizerConfig(name="adam", lr=0.01, weight_decay=0.0, grad_clip=0.0,
                       schedule="constant")


@pytest.mark.parametrize("config", [CONFIG, ADAM], ids=["sgd", "adam"])
def test_optimizer_state_round_trips_with_update_counts(tmp_path, config):
    params = make_params()
    opt = Optimizer(config, params, total_steps=10)
    for seed in range(3):
        step(params, opt, seed)
    Checkpointer(str(tmp_path)).save("epoch-00001", params, {"net": opt}, {})
    restored = make_params(seed=5)
    restored_opt = Optimizer(config, restored, total_steps=10)
    Checkpointer(str(tmp_path)).load("epoch-00001", restored, {"net": restored_opt})
    assert [s.t for s in restored_opt.solver.get_states().values()] == [3, 3]
    step(params, opt, 10)  # Adam's bias correction depends on t: the same next step
    step(restored, restored_opt, 10)
    for k in params:
        np.testing.assert_array_equal(restored[k].d, params[k].d)


def test_optimizer_state_of_another_optimizer_is_refused_naming_the_file(tmp_path):
    ck, _, _, _ = saved_run(tmp_path, epochs=1)  # sgd: momentum buffers only
    other = make_params()
    with pytest.raises(CheckpointError, match=r"net\.opt\.npz.*does not fit.*missing"):
        ck.load("epoch-00001", other, {"net": Optimizer(ADAM, other, 10)})


def test_checkpoints_of_earlier_versions_in_nnabla_formats_still_load(tmp_path):
    import nnabla as nn

    params = make_params()
    opt = Optimizer(CONFIG, params, total_steps=10)
    step(params, opt, 0)
    folder = tmp_path / "epoch-00001"
    folder.mkdir()
    nn.save_parameters(str(folder / "params.h5"), params)
    opt.save_states(str(folder / "net.opt.h5"))
    (folder / "state.json").write_text(json.dumps({"epoch": 0}))
    manifest = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
                for n in os.listdir(folder)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    ck = Checkpointer(str(tmp_path))
    assert ck.verify("epoch-00001") is None
    restored = make_params(seed=5)
    restored_opt = Optimizer(CONFIG, restored, total_steps=10)
    assert ck.load("epoch-00001", restored, {"net": restored_opt}) == {"epoch": 0}
    step(params, opt, 10)
    step(restored, restored_opt, 10)
    for k in params:
        np.testing.assert_array_equal(restored[k].d, params[k].d)


def test_arrays_files_keep_any_name_and_the_order():
    import tempfile

    from nnabla_nas.runner.checkpoint import read_arrays, write_arrays

    arrays = OrderedDict([("file", np.arange(3)), ("a/b#t", np.array(2)),
                          ("allow_pickle", np.ones((2, 0), np.float32))])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npz")
        write_arrays(path, arrays)
        back = read_arrays(path)
    assert list(back) == list(arrays)
    for k in arrays:
        assert_same(back[k], arrays[k])
