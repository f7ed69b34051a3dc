"""A corpus of broken configs, files and output folders: each ends with exit status 2
and one short line that names the key or file and what was expected; no traceback,
nothing executed from the file, no output that could be mistaken for a result, and the
user's files byte-identical (a run refused before it starts writes nothing at all)."""
import json
import os
import pickle
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnabla_nas.cli import load_config, main
from nnabla_nas.config.loader import to_dict
from nnabla_nas.runner.checkpoint import Checkpointer, read_arrays
from nnabla_nas.utils.output import MARKER, RunOutput

ROOT = Path(__file__).resolve().parents[1]

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


def own_folder(tmp, data=SEARCH):
    """The config file of ``data`` and ``tmp/out`` made a folder of its very run."""
    path = _write(tmp / "run.yaml", yaml.safe_dump(data))
    RunOutput(str(tmp / "out"), to_dict(load_config(str(path), [])), quiet=True).close()
    return path


def damaged_checkpoints(tmp):
    """A folder of this very run whose only checkpoint is damaged."""
    path = own_folder(tmp)
    out = tmp / "out"
    ck = out / "checkpoints" / "search" / "00001-000000"
    ck.mkdir(parents=True)
    (ck / "params.npz").write_bytes(b"PK\x03\x04 truncated")
    (ck / "manifest.json").write_text(json.dumps({"params.npz": "0" * 64}))
    return path


def folder_of_another_run(tmp):
    own_folder(tmp, with_(SEARCH, seed=99))
    return _write(tmp / "run.yaml", yaml.safe_dump(SEARCH))


def foreign_output(files):
    """``tmp/out`` holding the user's own ``files`` (name -> text)."""
    def make(tmp):
        for name, text in files.items():
            (tmp / "out" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "out" / name).write_text(text)
        return _write(tmp / "run.yaml", yaml.safe_dump(SEARCH))
    return make


def symlinked_log(tmp):
    """This run's folder whose log.txt is a link to a file of the user's."""
    path = own_folder(tmp)
    (tmp / "victim.txt").write_text("precious\n")
    (tmp / "out" / "log.txt").unlink()
    (tmp / "out" / "log.txt").symlink_to(tmp / "victim.txt")
    return path


def output_file(tmp):
    (tmp / "out").write_text("a file, not a folder")
    return _write(tmp / "run.yaml", yaml.safe_dump(SEARCH))


def alias_bomb(levels=9, width=9):
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    # Doubled braces: text_file fills in {tmp}.
    return "\n".join(lines) + f"\nsearch: {{{{space: {{{{stages: *l{levels - 1}}}}}}}}}\n"


def big_file(name, size, prefix="", suffix=""):
    def make(tmp):
        with open(tmp / name, "w") as f:
            f.write(prefix)
            f.write("x" * size)
            f.write(suffix)
        return tmp / name
    return make


def space(**options):
    return yaml_file(with_(SEARCH, search__space=dict(SEARCH["search"]["space"], **options)))


def pnas(**options):
    return yaml_file(with_(SEARCH, search__space=dict(name="proxylessnas", stem="small",
                                                      **options)))


def table_with(**changes):
    """A profile table with valid header fields, then ``changes``."""
    table = {"format": "nnabla-nas-profile-table", "version": 2, "statistic": "median",
             "units": "ms", "fingerprint": {"context": "cpu:float"}, "calibration": None,
             "checksum": "sha256:0", "entries": {}}
    table.update(changes)
    return profile_table(json.dumps(table))


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


BLACKBOX = {"seed": 0, "quiet": True, "search": {
    "epochs": 1, "batch_size": 64,
    "space": {"name": "proxylessnas", "stem": "small", "stem_channels": 8,
              "head_channels": 16, "stages": [[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]]},
    "searcher": {"name": "evolution", "evaluations": 4, "population": 2,
                 "sample_size": 1}}}


def blackbox(**sections):
    return yaml_file(with_(BLACKBOX, **sections))


def supernet_of(recorded_as=None, **space):
    """An evolution search over a supernet saved with other space options (or recorded
    as one of the space ``recorded_as``)."""
    def make(tmp):
        import nnabla_nas.builtins  # noqa: F401
        from nnabla_nas.config.loader import from_dict
        from nnabla_nas.contrib.spaces import SEARCH_SPACES
        from nnabla_nas.runner.schema import SearchConfig
        from nnabla_nas.runner.supernet import write_supernet
        options = dict(BLACKBOX["search"]["space"], **space)
        config = from_dict(SearchConfig, {"space": options}, "search")
        cls = SEARCH_SPACES.get(options["name"])
        model = cls.build_search(config.space.options, (1, 8, 8), 10,
                                 np.random.RandomState(0))
        (tmp / "sn").mkdir()
        weights = write_supernet(model, str(tmp / "sn" / "supernet.h5"),
                                 recorded_as or cls.name,
                                 config.space.options, "spos", 1)
        return blackbox(search__searcher__supernet_path=weights)(tmp)
    return make


NB201 = with_(BLACKBOX, search__space={"name": "nasbench201", "channels": 2, "cells": 1},
              search__searcher={"name": "random", "evaluations": 2, "evaluate": "table"})


def table_file(write):
    """A table search on the benchmark that ``write(path)`` leaves at ``tmp/tss``."""
    def make(tmp):
        write(tmp / "tss")
        return yaml_file(with_(NB201, search__searcher__table={"path": str(tmp / "tss")}))(tmp)
    return make


def other_benchmark(path):
    from tests.contrib.nats_files import write_tss
    write_tss(str(path), [], meta_archs=["8:16:24:32:40", "64:64:64:64:64"])


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
     "search.epochs: expected an integer >= 1 and <= 10000, got 'two'"),
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
    # ---------------------------------------------------------------- config files
    ("config-dev-zero", lambda tmp: Path("/dev/zero"), [], "/dev/zero: not a regular file"),
    ("config-folder", lambda tmp: tmp, [], "{tmp}: not a regular file"),
    ("config-too-large", big_file("run.yaml", 2 << 20, "seed: 1\nx: "), [],
     "{tmp}/run.yaml: 2.0 MiB, more than the limit of 1.0 MiB"),
    ("config-huge-value", big_file("run.yaml", 1000_000, "seed: "), [],
     "seed: expected an integer >= 0 and <= 4294967295, got 'xxxxxxxx"),
    ("config-huge-key", big_file("run.yaml", 1000_000, "seed: 1\n? ", "\n: 1\n"), [],
     "xxxxxxxxxx"),
    ("yaml-alias-bomb", text_file(alias_bomb()), [],
     "{tmp}/run.yaml: not valid YAML at line 6: expands to more than 100000 values"),
    ("yaml-recursive-alias", text_file("search: &a {{space: *a}}\n"), [],
     "{tmp}/run.yaml: not valid YAML at line 1: an alias refers to the value"),
    ("yaml-deep-flow", text_file("search: " + "[" * 5000 + "]" * 5000 + "\n"), [],
     "{tmp}/run.yaml: not valid YAML: nested more than 64 levels deep"),
    ("yaml-deep-block", text_file("".join(" " * i + "a:\n" for i in range(1000))), [],
     "{tmp}/run.yaml: not valid YAML: nested more than 64 levels deep"),
    ("yaml-duplicate-key", text_file("seed: 1\nquiet: true\nseed: 2\n"), [],
     "{tmp}/run.yaml: not valid YAML at line 3: duplicate key 'seed' (first given at "
     "line 1)"),
    ("yaml-duplicate-nested-key", text_file("search:\n  epochs: 1\n  epochs: 5\n"), [],
     "{tmp}/run.yaml: not valid YAML at line 3: duplicate key 'epochs'"),
    ("override-huge-value", yaml_file(SEARCH), ["seed=" + "9" * 100_000],
     "seed: override value '99999"),
    ("yaml-huge-integer", text_file("seed: " + "9" * 100_000 + "\n"), [],
     "{tmp}/run.yaml: not valid YAML at line 2: Exceeds the limit"),
    # ------------------------------------------------- numeric options and their range
    ("init-channels-range", space(init_channels=10 ** 6), [],
     "search.space.init_channels: expected an integer >= 1 and <= 256, got 1000000"),
    ("num-cells-range", space(num_cells=10 ** 5), [],
     "search.space.num_cells: expected an integer >= 3 and <= 64"),
    ("head-channels-range", pnas(head_channels=10 ** 9), [],
     "search.space.head_channels: expected an integer >= 1 and <= 8192"),
    ("stem-channels-range", pnas(stem_channels=10 ** 9), [],
     "search.space.stem_channels: expected an integer >= 1 and <= 1024"),
    ("width-multiplier-range", pnas(width_multiplier=1e6), [],
     "search.space.width_multiplier: expected a number > 0 and <= 8"),
    ("stage-channels-range", pnas(stages=[[1, 10 ** 7, 1, 1]]), [],
     "search.space.stages[0][1]: expected at most 4096 channels"),
    ("batch-size-range", yaml_file(with_(SEARCH, search__batch_size=10 ** 9)), [],
     "search.batch_size: expected an integer >= 1 and <= 65536"),
    ("epochs-range", yaml_file(with_(SEARCH, search__epochs=10 ** 12)), [],
     "search.epochs: expected an integer >= 1 and <= 10000"),
    ("seed-range", yaml_file(with_(SEARCH, seed=2 ** 40)), [],
     "seed: expected an integer >= 0 and <= 4294967295"),
    ("image-size-range", yaml_file(with_(SEARCH, dataset={"name": "image_folder",
                                                          "image_size": 10 ** 6})), [],
     "dataset.image_size: expected an integer >= 1 and <= 4096"),
    ("lr-infinite", text_file("search: {{epochs: 1, net_optimizer: {{lr: .inf}}}}\n"), [],
     "search.net_optimizer.lr: expected a finite number, got inf"),
    ("override-nan", yaml_file(SEARCH), ["search.net_optimizer.weight_decay=.nan"],
     "search.net_optimizer.weight_decay: expected a finite number, got nan"),
    ("batch-larger-than-split", yaml_file(with_(SEARCH, search__batch_size=4096)), [],
     "search.batch_size: 4096 is larger than the train split"),
    ("train-batch-larger-than-split", train_only(json.dumps({"space": "darts"})),
     ["train.batch_size=4096"], "train.batch_size: 4096 is larger than the train split"),
    # ------------------------------------------------------------------- arch.json
    ("arch-deep", train_only("[" * 100_000 + "]" * 100_000), [],
     "train.arch: {tmp}/arch.json: nested more than 64 levels deep"),
    ("arch-huge", train_only('{"space": "darts", "pad": "' + "x" * (17 << 20) + '"}'), [],
     "train.arch: {tmp}/arch.json: 17.0 MiB, more than the limit of 16.0 MiB"),
    ("arch-duplicate-key", train_only('{"space": "darts", "space": "darts"}'), [],
     "train.arch: {tmp}/arch.json: space: key given more than once"),
    ("arch-a-folder", lambda tmp: (tmp / "arch.json").mkdir() or train_only()(tmp), [],
     "train.arch: {tmp}/arch.json: not a regular file"),
    # ---------------------------------------------------------------- profile tables
    ("profile-table-unknown-statistic", table_with(statistic="mean"), [],
     "{tmp}/profile.json: 'statistic': expected one of"),
    ("profile-table-infinite-calibration",
     table_with(calibration={"a": 1e999, "b": 0}), [],
     "{tmp}/profile.json: not a valid profile table (corrupt or truncated JSON: "
         "{tmp}/profile.json: Infinity: expected finite numbers only"),
    ("profile-table-overflowing-calibration",
     lambda tmp: profile_table(json.dumps({"format": "nnabla-nas-profile-table"})[:-1]
                               + ', "calibration": {"a": 1e999}}')(tmp), [],
     "{tmp}/profile.json: not a valid profile table (corrupt or truncated JSON: "
     "{tmp}/profile.json: 1e999: expected finite numbers only"),
    ("profile-table-negative-calibration",
     table_with(calibration={"a": -1, "b": 0}), [],
     "{tmp}/profile.json: 'calibration': expected finite numbers >= 0"),
    ("profile-table-unknown-field", table_with(comment="hand-edited"), [],
     "{tmp}/profile.json: unknown fields ['comment']"),
    ("profile-table-entry-field", table_with(entries={"k": {"ms": 1, "repeats": 1,
                                                            "note": 2}}), [],
     "{tmp}/profile.json: entry 'k': expected {{'ms': a finite number >= 0"),
    ("profile-table-boolean-repeats", table_with(entries={"k": {"ms": 1,
                                                                "repeats": True}}), [],
     "{tmp}/profile.json: entry 'k': expected"),
    ("profile-table-fingerprint", table_with(fingerprint={"context": 1}), [],
     "{tmp}/profile.json: 'fingerprint': expected an object of strings"),
    # ---------------------------------------------------------------- output folders
    ("output-user-results", foreign_output({"summary.json": '{"mine": 1}',
                                            "arch.json": '{"mine": 2}',
                                            "log.txt": "my log\n"}), [],
     "{tmp}/out: not empty and not a run folder of this tool (it holds arch.json, "
     "log.txt, summary.json)"),
    ("output-overwrite-foreign-config", foreign_output({
        "config.yaml": "seed: 1\n", "checkpoints/mine.bin": "another tool's",
        "notes.txt": "mine"}), ["--overwrite"],
     "{tmp}/out: not empty and not a run folder of this tool (it holds checkpoints, "
     "config.yaml, notes.txt)"),
    ("output-symlinked-log", symlinked_log, [],
     "{tmp}/out/log.txt: a symbolic link; refusing to write through it"),
    ("output-is-a-file", output_file, [], "{tmp}/out: exists and is a file, not a folder"),
    ("output-under-a-file", output_file, ["--output-path", "{tmp}/out/run"],
     "{tmp}/out/run: cannot create the folder: {tmp}/out is a file"),
    ("output-filesystem-root", yaml_file(SEARCH), ["--output-path", "/"],
     "/: refusing to write a run into the filesystem root"),
    ("output-home", yaml_file(SEARCH), ["--output-path", os.path.expanduser("~")],
     os.path.expanduser("~") + ": refusing to write a run into the home folder"),
    ("output-checkout", yaml_file(SEARCH), ["--output-path", str(ROOT)],
     f"{ROOT}: refusing to write a run into the project checkout"),
    ("output-system-folder", yaml_file(SEARCH), ["--output-path", "/etc/nnabla-nas"],
     "/etc/nnabla-nas: refusing to write a run into a system folder"),
    ("blackbox-bounds-infeasible",
     blackbox(search__costs={"memory": {"mode": "hard", "bound": 10},
                             "latency": {"mode": "hard", "bound": 100.0}}), [],
     "search.costs.memory.bound: below the cheapest architecture of the search space "
     "found on the network the run delivers (proxylessnas with the train options): "
     "memory 1842 parameters (bound 10)"),
    ("blackbox-bound-unknown-cost",
     blackbox(search__costs={"speed": {"mode": "hard", "bound": 1.0}}), [],
     "search.costs.speed: unknown estimator"),
    ("blackbox-population-range", blackbox(search__searcher__population=10**5), [],
     "search.searcher.population: 100000 is larger than the search space"),
    ("blackbox-evaluations-range", blackbox(search__searcher__evaluations=0), [],
     "search.searcher.evaluations: expected"),
    ("blackbox-sample-size-range", blackbox(search__searcher__sample_size=3), [],
     "search.searcher.sample_size: expected at most population=2"),
    ("blackbox-supernet-other-options", supernet_of(head_channels=32), [],
     "search.searcher.supernet_path: a supernet built with other options of the space "
     "(search.space.head_channels differ)"),
    ("blackbox-train-top-k-range",
     blackbox(search__searcher__top_k=2, train={"epochs": 1, "top_k": 3,
                                                "net": {"name": "proxylessnas"}}), [],
     "train.top_k: expected 1 unless the search section's searcher ranks at least 3"),
    ("blackbox-supernet-other-space", supernet_of(recorded_as="darts"), [],
     "search.searcher.supernet_path: a supernet of the space 'darts', expected one of "
     "'proxylessnas'"),
    ("table-other-space", blackbox(search__searcher__evaluate="table",
                                   search__searcher__table={"path": "tss"}), [],
     "search.searcher.evaluate: table holds results of the nasbench201 space only, not "
     "of proxylessnas"),
    ("table-damaged", table_file(lambda p: p.write_bytes(b"BZh91AY&SY not bz2")), [],
     "search.searcher.table.path: {tmp}/tss is not a readable NATS-Bench topology "
     "benchmark (damaged or another format"),
    ("table-other-benchmark", table_file(other_benchmark), [],
     "search.searcher.table.path: {tmp}/tss is a benchmark of another search space"),
    ("table-no-path", yaml_file(NB201), [],
     "search.searcher.table.path: expected the NATS-Bench topology benchmark"),
    ("table-hp-range", yaml_file(with_(NB201, search__searcher__table={"hp": 90})), [],
     "search.searcher.table.hp: expected"),
    ("proxy-unknown", blackbox(search__searcher__evaluate="proxy",
                               search__searcher__proxy="synflo"), [],
     "search.searcher.proxy: unknown zero-cost proxy 'synflo'"),
    ("preselect-keep-range",
     blackbox(search__searcher__preselect={"proxy": "naswot", "keep": 8, "pool": 4}), [],
     "search.searcher.preselect.keep: expected at most pool=4"),
    ("blackbox-supernet-missing",
     blackbox(search__searcher__supernet_path="/nonexistent/supernet.h5"), [],
     "search.searcher.supernet_path: /nonexistent/supernet.h5: no such file"),
    ("blackbox-workers-range", blackbox(search__workers=0), [],
     "search.workers: expected an integer >= 1"),
    ("workers-without-candidates", yaml_file(with_(SEARCH, search__workers=2)), [],
     "search.workers: the searcher darts scores no candidates to share among workers"),
    ("blackbox-ray-unreachable",
     blackbox(search__workers=2, search__executor={"name": "ray",
                                                   "address": "127.0.0.1:1"}), [],
     "search.executor.address: cannot reach a Ray cluster at 127.0.0.1:1 (Connection "
     "refused)"),
]


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


def snapshot(folder):
    """Every path under ``folder`` with its bytes (a link as its target), or None if
    ``folder`` does not exist."""
    if not os.path.lexists(folder):
        return None
    if not folder.is_dir():
        return folder.read_bytes()
    return {str(p): ("link", os.readlink(p)) if p.is_symlink() else
            p.read_bytes() if p.is_file() else "folder" for p in sorted(folder.rglob("*"))}


@contextmanager
def time_limit(seconds):
    """Fail (instead of hanging) if the block runs longer than ``seconds``."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_covers_every_class():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    for prefix in ("config-", "yaml-", "arch-", "profile-table-", "output-", "cifar-"):
        assert any(i.startswith(prefix) for i in ids), prefix
    assert sum(i.endswith("-range") for i in ids) >= 8


@pytest.mark.parametrize("make, extra, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_broken_input_gives_one_line_and_status_2(tmp_path, capsys, make, extra, expected):
    config = make(tmp_path)
    out = tmp_path / "out"
    ours = (out / MARKER).exists()
    before, victim = snapshot(out), snapshot(tmp_path / "victim.txt")
    extra = [e.format(tmp=tmp_path) for e in extra]
    with time_limit(120):  # an alias bomb or deep nesting must not hang
        code = main(["--config", str(config), "--output-path", str(out), *extra])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("error: " + expected.format(tmp=tmp_path)), err[0][:300]
    assert len(err[0]) < 1100, len(err[0])  # values are quoted only up to a length
    assert "Traceback" not in err[0]
    assert not (tmp_path / "executed").exists()  # nothing ran from the file
    assert snapshot(tmp_path / "victim.txt") == victim
    if not ours:  # refused before it started: the user's files, or nothing, as before
        assert snapshot(out) == before
    for name in RESULTS:
        assert not (out / name).exists() or not ours, name


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


def holder(lock_path):
    """A live process holding the lock ``lock_path`` (as a running run would)."""
    import subprocess
    import sys
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(lock_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def tiny_machine(monkeypatch):
    """A machine of 1 KiB: every network exceeds it."""
    monkeypatch.setattr("nnabla_nas.utils.memory.physical_memory", lambda: 1 << 10)


def arch_of_another_space(tmp):
    (tmp / "arch.json").write_text(json.dumps({"space": "proxylessnas", "version": 1}))
    return ["train", "--config", str(_write(tmp / "run.yaml", yaml.safe_dump(SEARCH))),
            "--arch", str(tmp / "arch.json")]


def estimate(*args):
    def make(tmp):
        (tmp / "arch.json").write_text("{}")
        return ["estimate", "--arch", str(tmp / "arch.json"), "--space", "darts", *args]
    return make


COMMAND_CASES = [
    # (id, argv from tmp, set-up of the machine or None, expected start of the message)
    ("train-bad-arch", arch_of_another_space, None,
     "train.arch: {tmp}/arch.json: space: expected 'darts', got 'proxylessnas'"),
    ("estimate-huge-input-shape", estimate("--input-shape", "3", "100000", "100000"), None,
     "--input-shape, --num-classes: expected at most 16 channels, sides of 2048"),
    ("estimate-huge-classes", estimate("--num-classes", str(10 ** 9)), None,
     "--input-shape, --num-classes: expected at most"),
    ("search-larger-than-the-machine",
     lambda tmp: ["search", "--config", str(_write(tmp / "run.yaml", yaml.safe_dump(SEARCH)))],
     tiny_machine, "search.space (darts supernet): its "),
]


@pytest.mark.parametrize("argv, machine, expected", [c[1:] for c in COMMAND_CASES],
                         ids=[c[0] for c in COMMAND_CASES])
def test_a_refused_command_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch,
                                                          argv, machine, expected):
    if machine is not None:
        machine(monkeypatch)
    out = tmp_path / "out"
    args = argv(tmp_path)
    if args[0] in ("search", "train"):
        args += ["--output-path", str(out)]
    code = main(args)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: " + expected.format(tmp=tmp_path)), err[0]
    assert not out.exists()


def test_a_second_run_on_a_folder_in_use_stops_naming_the_holder(tmp_path, capsys):
    path = own_folder(tmp_path)
    out = tmp_path / "out"
    proc = holder(out / ".nnabla-nas.lock")
    try:
        before = snapshot(out)
        code = main(["--config", str(path), "--output-path", str(out)])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 2 and len(err) == 1, err
        assert err[0] == (f"error: {out}: in use by another run (pid {proc.pid}); wait "
                          "for it to end, or choose another --output-path")
        assert snapshot(out) == before
    finally:
        proc.kill()
        proc.wait()


MANIFEST = {"format": "nnabla-nas-latency-bundle", "version": 1, "units": "ms",
            "statistic": "median",
            "function_timing": {"warmup": 1, "repeats": 2, "rounds": 1},
            "network_timing": {"warmup": 1, "repeats": 2, "rounds": 1},
            "functions": [{"key": "k", "file": "functions/0000.nnp", "network": "f"}],
            "networks": []}

BUNDLE_CASES = [
    # (id, changes to a valid manifest, expected text of the message after the file)
    ("statistic", {"statistic": "mean"}, "statistic: expected one of"),
    ("repeats", {"function_timing": {"warmup": 1, "repeats": 10 ** 12, "rounds": 1}},
     "function_timing.repeats: expected an integer from 1 to 1000000"),
    ("boolean-rounds", {"network_timing": {"warmup": 1, "repeats": 1, "rounds": True}},
     "network_timing.rounds: expected an integer"),
    ("file-outside", {"functions": [{"key": "k", "file": "../../etc/passwd",
                                     "network": "f"}]},
     "functions[0].file: expected a file name inside the bundle"),
    ("unknown-key-in-network", {"networks": [{"file": "n.nnp", "network": "n",
                                              "functions": ["other"]}]},
     "networks[0].functions: expected a list of the keys of 'functions'"),
    ("unknown-field", {"comment": "edited"}, "expected the fields"),
    ("infinite", None, "expected finite numbers"),
]


@pytest.mark.parametrize("changes, expected", [c[1:] for c in BUNDLE_CASES],
                         ids=[c[0] for c in BUNDLE_CASES])
def test_a_bad_bundle_manifest_is_one_line(tmp_path, capsys, changes, expected):
    from nnabla_nas.contrib.estimator import runner
    text = json.dumps(dict(MANIFEST, **changes)) if changes is not None else \
        json.dumps(MANIFEST).replace('"warmup": 1', '"warmup": Infinity', 1)
    (tmp_path / "manifest.json").write_text(text)
    code = runner.main(["--bundle", str(tmp_path), "--output", str(tmp_path / "t.json")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {tmp_path}/manifest.json"), err[0]
    assert expected in err[0], err[0]
    assert not (tmp_path / "t.json").exists()
