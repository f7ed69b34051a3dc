"""A corpus of broken configs and files: each ends with exit status 2 and one line that
names the key or file and what was expected; no traceback, nothing executed from the
file, and no output that could be mistaken for a result."""
import json
import pickle

import numpy as np
import pytest
import yaml

from nnabla_nas.cli import load_config, main
from nnabla_nas.config.loader import to_dict
from nnabla_nas.runner.checkpoint import Checkpointer, read_arrays

SEARCH = {"seed": 0, "quiet": True, "search": {
    "epochs": 1, "batch_size": 64,
    "space": {"name": "darts", "init_channels": 2, "num_cells": 3, "num_nodes": 2,
              "multiplier": 2, "stem_multiplier": 1}}}
RESULTS = ("summary.json", "weights.h5", "search_weights.h5", "arch.json")


def with_(base, **sections):
    data = json.loads(json.dumps(base))
    for dotted, value in sections.items():
        node = data
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return data


def yaml_file(data):
    return lambda tmp: _write(tmp / "run.yaml", yaml.safe_dump(data))


def text_file(text):
    return lambda tmp: _write(tmp / "run.yaml", text.format(tmp=tmp))


def _write(path, text):
    path.write_text(text)
    return path


def train_only(arch_text=None, arch_bytes=None):
    """A train-only config whose arch.json holds ``arch_text``."""
    def make(tmp):
        arch = tmp / "arch.json"
        if arch_text is not None:
            arch.write_text(arch_text)
        if arch_bytes is not None:
            arch.write_bytes(arch_bytes)
        data = {"quiet": True, "train": {"arch": str(arch), "epochs": 1}}
        return _write(tmp / "run.yaml", yaml.safe_dump(data))
    return make


def dataset_folder(name, folder, setup):
    """A search on dataset ``name`` whose root ``tmp/folder`` is filled by ``setup``."""
    def make(tmp):
        root = tmp / folder
        setup(root)
        data = with_(SEARCH, dataset={"name": name, "root": str(root)})
        return _write(tmp / "run.yaml", yaml.safe_dump(data))
    return make


def cifar(setup):
    return dataset_folder("cifar10", "cifar", setup)


def image_folder(setup):
    return dataset_folder("image_folder", "images", setup)


def flat_images(root):
    """Images straight in train/ and val/, without class sub-folders."""
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / split / "a.png").write_bytes(b"not really a png")


def text_in_class_folders(root):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(6):
                (root / split / cls / f"{i}.jpg").write_text("text named like an image")


def profile_table(text):
    """A search with a latency regularizer reading the profile table ``text``."""
    def make(tmp):
        table = tmp / "profile.json"
        table.write_text(text)
        data = with_(SEARCH, search__regularizers={
            "latency": {"weight": 1.0, "table": str(table)}})
        return _write(tmp / "run.yaml", yaml.safe_dump(data))
    return make


def damaged_checkpoints(tmp):
    """A folder of this very run whose only checkpoint is damaged."""
    path = _write(tmp / "run.yaml", yaml.safe_dump(SEARCH))
    out = tmp / "out"
    out.mkdir()
    (out / "config.yaml").write_text(yaml.safe_dump(to_dict(load_config(str(path), [])),
                                                    sort_keys=False))
    ck = out / "checkpoints" / "search" / "00001-000000"
    ck.mkdir(parents=True)
    (ck / "params.npz").write_bytes(b"PK\x03\x04 truncated")
    (ck / "manifest.json").write_text(json.dumps({"params.npz": "0" * 64}))
    return path


def folder_of_another_run(tmp):
    out = tmp / "out"
    out.mkdir()
    (out / "config.yaml").write_text("seed: 99\n")
    return _write(tmp / "run.yaml", yaml.safe_dump(SEARCH))


def evil_pickle(root):
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {root.parent / 'executed'}",))

    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(pickle.dumps(Evil()))


def garbage_batches(root):
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(b"this is not a pickle")


CASES = [
    # (id, make the config, extra args, expected start of the message (after 'error: '))
    ("missing-file", lambda tmp: tmp / "nothing.yaml", [], "{tmp}/nothing.yaml: no such config"),
    ("empty-file", text_file(""), [], "{tmp}/run.yaml: the config file is empty"),
    ("not-yaml", text_file("search: [1, 2\n"), [], "{tmp}/run.yaml: not valid YAML"),
    ("not-a-mapping", text_file("- search\n"), [], "{tmp}/run.yaml: expected a mapping"),
    ("a-scalar", text_file("42\n"), [], "{tmp}/run.yaml: expected a mapping"),
    ("binary", lambda tmp: _write_bytes(tmp / "run.yaml", b"\xff\xfe\x00"), [],
     "{tmp}/run.yaml: cannot read the config file"),
    ("python-tag", text_file("search: !!python/object/apply:os.system ['touch {tmp}/executed']\n"),
     [], "{tmp}/run.yaml: not valid YAML"),
    ("python-name-tag", text_file("seed: !!python/name:os.system\n"), [],
     "{tmp}/run.yaml: not valid YAML"),
    ("no-sections", yaml_file({"seed": 1}), [], "search, train: expected at least one"),
    ("unknown-top", yaml_file(with_(SEARCH, serach={})), [], "serach: unknown key"),
    ("unknown-search", yaml_file(with_(SEARCH, search__epoch=1)), [], "search.epoch: unknown"),
    ("unknown-space", yaml_file(with_(SEARCH, search__space__cells=3)), [],
     "search.space.cells: unknown key"),
    ("unknown-searcher", yaml_file(with_(SEARCH, search__searcher={"ordre": 2})), [],
     "search.searcher.ordre: unknown key"),
    ("unknown-optimizer", yaml_file(with_(SEARCH, search__net_optimizer={"rate": 1})), [],
     "search.net_optimizer.rate: unknown key"),
    ("unknown-dataset-key", yaml_file(with_(SEARCH, dataset={"folder": "x"})), [],
     "dataset.folder: unknown key"),
    ("unknown-train-net", yaml_file(with_(SEARCH, train={"net": {"layers": 3}})), [],
     "train.net.layers: unknown key"),
    ("seed-type", yaml_file(with_(SEARCH, seed="zero")), [], "seed: expected an integer"),
    ("quiet-type", yaml_file(with_(SEARCH, quiet="no")), [], "quiet: expected a boolean"),
    ("epochs-type", yaml_file(with_(SEARCH, search__epochs=[1])), [],
     "search.epochs: expected an integer"),
    ("betas-type", yaml_file(with_(SEARCH, search__arch_optimizer={"betas": 0.5})), [],
     "search.arch_optimizer.betas: expected a list"),
    ("section-type", yaml_file(with_(SEARCH, train=[1])), [], "train: expected a mapping"),
    ("lr-range", yaml_file(with_(SEARCH, search__net_optimizer={"lr": -1})), [],
     "search.net_optimizer.lr: expected a number > 0"),
    ("fraction-range", yaml_file(with_(SEARCH, dataset={"valid_fraction": 1.5})), [],
     "dataset.valid_fraction: expected"),
    ("drop-path-range", yaml_file(with_(SEARCH, train={"net": {"drop_path_prob": 1}})), [],
     "train.net.drop_path_prob: expected a number >= 0 and < 1"),
    ("warmup-range", yaml_file(with_(SEARCH, search__warmup_epochs=1)), [],
     "search.warmup_epochs: expected fewer than epochs=1"),
    ("checkpoint-range", yaml_file(with_(SEARCH, checkpoint_every=-2)), [],
     "checkpoint_every: expected an integer >= 0"),
    ("unknown-space-name", yaml_file(with_(SEARCH, search__space={"name": "dart"})), [],
     "search.space.name: unknown search space 'dart'; did you mean 'darts'?"),
    ("unknown-searcher-name", yaml_file(with_(SEARCH, search__searcher="dartz")), [],
     "search.searcher.name: unknown searcher 'dartz'; did you mean 'darts'?"),
    ("unknown-dataset-name", yaml_file(with_(SEARCH, dataset="digit")), [],
     "dataset.name: unknown dataset 'digit'; did you mean 'digits'?"),
    ("bad-override", yaml_file(SEARCH), ["search.epochs"], "override 'search.epochs'"),
    ("override-unknown-key", yaml_file(SEARCH), ["search.epohcs=2"],
     "search.epohcs: unknown key"),
    ("override-type", yaml_file(SEARCH), ["search.epochs=two"],
     "search.epochs: expected an integer >= 1, got 'two'"),
    ("cudnn-missing", yaml_file(with_(SEARCH, context="cudnn")), [],
     "context: cudnn needs NNabla's CUDA extension"),
    ("arch-missing", train_only(), [], "train.arch: [Errno 2] No such file"),
    ("arch-not-json", train_only("{not json"), [], "train.arch: {tmp}/arch.json: not valid JSON"),
    ("arch-truncated", train_only('{"space": "darts", "version": 1, "normal": [["sep_c'), [],
     "train.arch: {tmp}/arch.json: not valid JSON"),
    ("arch-binary", train_only(arch_bytes=b"\x00\x01\x02"), [],
     "train.arch: {tmp}/arch.json: not valid JSON"),
    ("arch-unknown-op", train_only(json.dumps({
        "space": "darts", "version": 1,
        "normal": [["sep_conv_9x9", 0], ["skip_connect", 1]] * 4, "normal_concat": [2, 3, 4, 5],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]] * 4, "reduce_concat": [2, 3, 4, 5]})),
     [], "train.arch: {tmp}/arch.json: normal[0][0]: unknown candidate operation "
         "'sep_conv_9x9'; did you mean 'sep_conv_5x5'?"),
    ("arch-other-space", train_only(json.dumps({"space": "proxylessnas", "version": 1})), [],
     "train.arch: {tmp}/arch.json: space: expected 'darts', got 'proxylessnas'"),
    ("cifar-missing", cifar(lambda root: None), [],
     "dataset cifar10: CIFAR-10 file not found: {tmp}/cifar/cifar-10-batches-py/"),
    ("cifar-garbage", cifar(garbage_batches), [],
     "dataset cifar10: {tmp}/cifar/cifar-10-batches-py/data_batch_1: not a valid pickle"),
    ("cifar-evil-pickle", cifar(evil_pickle), [],
     "dataset cifar10: {tmp}/cifar/cifar-10-batches-py/data_batch_1: refusing to load "
     "'posix.system'"),
    ("image-folder-flat", image_folder(flat_images), [],
     "dataset image_folder: {tmp}/images/train: no class folders"),
    ("image-folder-not-images", image_folder(text_in_class_folders), [],
     "dataset image_folder: {tmp}/images/train/cat/0.jpg: cannot decode the image"),
    ("checkpoint-damaged", damaged_checkpoints, [], "no intact checkpoint in "),
    ("profile-table-corrupt", profile_table('{"format": "nnabla-nas profile table", "ver'),
     [], "{tmp}/profile.json: not a valid profile table (corrupt or truncated JSON"),
    ("profile-table-not-a-table", profile_table('{"hello": 1}'), [],
     "{tmp}/profile.json: not a profile table"),
    ("folder-of-another-run", folder_of_another_run, [],
     "{tmp}/out: holds a different run's config.yaml"),
]


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("make, extra, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_input_gives_one_line_and_status_2(tmp_path, capsys, make, extra, expected):
    config = make(tmp_path)
    out = tmp_path / "out"
    code = main(["--config", str(config), "--output-path", str(out), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("error: " + expected.format(tmp=tmp_path)), err[0]
    assert "Traceback" not in err[0]
    assert not (tmp_path / "executed").exists()  # nothing ran from the file
    for name in RESULTS:
        assert not (out / name).exists(), name


def test_a_diverging_run_stops_naming_step_and_quantity_and_keeps_good_checkpoints(
        tmp_path, capsys):
    data = with_(SEARCH, checkpoint_every=1, search__warmup_epochs=0,
                 search__net_optimizer={"lr": 1.0e12, "grad_clip": 0.0,
                                        "schedule": "constant"})
    config = _write(tmp_path / "run.yaml", yaml.safe_dump(data))
    out = tmp_path / "out"
    code = main(["--config", str(config), "--output-path", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: search "), err[0]
    assert " is nan" in err[0] or " is inf" in err[0] or "no longer finite" in err[0]
    assert "the last good checkpoint is kept" in err[0]
    checkpoints = Checkpointer(str(out / "checkpoints" / "search"))
    tag = checkpoints.latest()
    assert tag is not None and checkpoints.verify(tag) is None
    for k, v in read_arrays(str(out / "checkpoints" / "search" / tag / "params.npz")).items():
        np.testing.assert_array_equal(np.isfinite(v), True, err_msg=k)
    for name in RESULTS:
        assert not (out / name).exists(), name
