"""Every example config validates as it is shipped, and every one whose data is
bundled runs one step of each of its phases on the CPU.

The configs are found by a glob over ``examples/``, so a new example is tested without
being listed here. Validation reads no data: configs for CIFAR-10 or an image folder
validate on a machine without those files. Those configs are listed in
:data:`VALIDATED_ONLY`, with why; every other config must run.
"""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nnabla_nas.cli import load_config
from nnabla_nas.commands.run import load_data, phase_run, seed_everything, supernet
from nnabla_nas.config.loader import Component, to_dict
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.trainer import Trainer
from nnabla_nas.utils.context import Device
from nnabla_nas.utils.output import RunOutput

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(p for pattern in ("*.yaml", "*.yml") for p in EXAMPLES.rglob(pattern))

#: Configs whose data is not bundled (no downloads in tests) and whose step is sized
#: for a GPU: validated, not run. By relative path: the dataset each one needs.
VALIDATED_ONLY = {
    "darts/cifar10_search.yaml": "cifar10",
    "darts/cifar10_train.yaml": "cifar10",
    "proxylessnas/cifar10_search.yaml": "cifar10",
    "proxylessnas/cifar10_train.yaml": "cifar10",
    "proxylessnas/imagenet_search.yaml": "image_folder",
    "proxylessnas/imagenet_train.yaml": "image_folder",
    "spos/cifar10.yaml": "cifar10",
    "spos/imagenet.yaml": "image_folder",
}


def name(path: Path) -> str:
    return path.relative_to(EXAMPLES).as_posix()


RUNNABLE = [p for p in CONFIGS if name(p) not in VALIDATED_ONLY]


def test_the_examples_are_found():
    names = {name(p) for p in CONFIGS}
    assert {"quickstart.yaml", "proxylessnas/digits_search.yaml",
            "plugin/plugin.yaml"} <= names
    assert set(VALIDATED_ONLY) <= names  # no stale entry hides a runnable config
    assert len(RUNNABLE) >= 7


@pytest.mark.parametrize("path", CONFIGS, ids=name)
def test_the_example_config_validates(path, plugin_path):
    # An example's plugins live next to its config (run with PYTHONPATH=that folder).
    plugin_path(path.parent)
    config = load_config(str(path), [])
    assert config.search is not None or config.train is not None
    if name(path) in VALIDATED_ONLY:  # only configs of data that is not bundled
        assert config.dataset.name == VALIDATED_ONLY[name(path)]


def finite_step(values, where):
    assert values and all(np.isfinite(v) for v in values.values()), (where, values)
    assert "loss" in values and "error" in values, (where, values)


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNNABLE, ids=name)
def test_the_example_runs_one_step_of_each_phase(path, plugin_path, tmp_path):
    """One search step after the warm-up (weights and architecture updated), then one
    training step of the architecture it derives (or of the config's ``train.arch``
    when that file exists, else of a random architecture of the space), as ``main``
    builds them."""
    plugin_path(path.parent)
    config = load_config(str(path), [])
    seed_everything(config.seed)
    data = load_data(config)
    device = Device(config.context, config.device_id)
    rng = np.random.RandomState(config.seed)
    arch = None
    if config.search is not None:
        space = SEARCH_SPACES.get(config.search.space.name)
        output = RunOutput(str(tmp_path / "search"), to_dict(config), quiet=True)
        search = config.search
        if isinstance(getattr(search.searcher.options, "supernet", None), str):
            # A black-box searcher over a supernet: its step is the supernet
            # trainer's (candidate evaluation: tests/runner/test_blackbox.py).
            trainer = search.searcher.options.supernet
            search = dataclasses.replace(search, searcher=Component(
                trainer, SEARCHERS.get(trainer).Config()))
        searcher = SEARCHERS.get(search.searcher.name)(phase_run(
            config, search, supernet(config, data)(rng), data, output, space, device))
        epoch = config.search.warmup_epochs  # the first epoch that steps the alphas
        searcher.begin_epoch(epoch)
        values = searcher.train_step(epoch, 0)
        finite_step(values, name(path))
        assert any(k.startswith("arch_") for k in values), values
        arch = searcher.derive()
        output.close()
    if config.train is not None:
        space = SEARCH_SPACES.get(config.train.net.name)
        if arch is None:
            given = config.train.arch and Path(config.train.arch)
            arch = (space.load_arch(str(given)) if given and given.is_file() else
                    space.sample(space.arch_options(space.SearchConfig()), rng))
        model = space.build_train(arch, config.train.net.options, data.shape,
                                  data.num_classes, rng)
        output = RunOutput(str(tmp_path / "train"), to_dict(config), quiet=True)
        trainer = Trainer(phase_run(config, config.train, model, data, output, space,
                                    device))
        trainer.begin_epoch(0)
        finite_step(trainer.train_step(0, 0), name(path))
        output.close()
