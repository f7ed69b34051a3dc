"""Checks of the search-space contract that every space's own tests run on a tiny
configuration: a random architecture builds and runs, the supernet runs in both
searchers' modes, derivation, arch.json round trip and mutation, and the command line
on the space's example."""
import json
import subprocess
import sys
from pathlib import Path

import nnabla as nn
import numpy as np

from nnabla_nas.config.loader import from_dict
from nnabla_nas.runner.schema import RunConfig
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.module import MixedOp

ROOT = Path(__file__).resolve().parents[2]
CLASSES = 10


def search_options(space, **options):
    """The search options of ``space`` as a config file gives them (errors name the
    dotted key)."""
    config = from_dict(RunConfig, {"dataset": {"name": "digits"},
                                   "search": {"space": {"name": space, **options}}})
    return config.search.space.options


def forward(model, shape, batch=2):
    """The logits of ``model`` on a random batch of ``shape`` (C, H, W) images."""
    x = nn.Variable.from_numpy_array(
        np.random.RandomState(0).randn(batch, *shape).astype(np.float32))
    y = model(x)
    y.forward()
    return y.d.copy()


def check_random_architecture_trains(space, options, train_options, shape):
    """A sampled architecture builds, runs, and gets gradients in its weights."""
    arch = space.sample(space.arch_options(options), np.random.RandomState(0))
    model = space.build_train(arch, train_options, shape, CLASSES, np.random.RandomState(0))
    assert not model.get_arch_parameters()
    x = nn.Variable.from_numpy_array(np.random.RandomState(1).randn(4, *shape)
                                     .astype(np.float32))
    loss = model.loss(model(x), nn.Variable.from_numpy_array(np.arange(4)[:, None]))
    loss.forward()
    loss.backward()
    assert np.isfinite(loss.d) and any(np.abs(p.g).sum() > 0
                                       for p in model.get_parameters().values())
    return arch, model


def check_supernet_modes(space, options, shape):
    """The supernet runs with every MixedOp in 'full' (DARTS) and 'sample'
    (ProxylessNAS) mode, and its labels are exactly the space's choices."""
    model = space.build_search(options, shape, CLASSES, np.random.RandomState(0))
    mixed = [m for _, m in model.get_modules() if isinstance(m, MixedOp)]
    labels = [c.label for c in space.choices(space.arch_options(options))]
    assert sorted({m.label for m in mixed}) == sorted(labels)
    for mode in ("full", "sample"):
        for m in mixed:
            m.mode = mode
        out = forward(model, shape)
        assert out.shape == (2, CLASSES) and np.isfinite(out).all()
    return model


def check_derive_save_load_mutate(space, options, model, folder):
    """Derivation gives a valid architecture, arch.json gives it back, and a mutation
    changes exactly one label."""
    for m in model.get_arch_parameters().values():
        m.d = np.random.RandomState(m.size).randn(*m.shape)
    arch = space.derive(model, options)
    assert isinstance(arch, Architecture) and space.is_valid(arch)
    path = Path(folder) / "arch.json"
    space.save_arch(arch, str(path))
    assert space.load_arch(str(path)) == arch
    mutant = space.mutate(arch, np.random.RandomState(0))
    assert sum(arch.choices[k] != mutant.choices[k] for k in arch.choices) == 1
    return arch


def run_example(config, searcher, out, *overrides):
    """main.py on ``config`` with ``searcher``, one short epoch of each phase; returns
    the architecture file written and the summary."""
    result = subprocess.run(
        [sys.executable, "main.py", "--config", str(config), "--output-path", str(out),
         f"search.searcher.name={searcher}", "search.epochs=1", "search.warmup_epochs=0",
         "search.batch_size=256", "train.epochs=1", "train.batch_size=256", "quiet=true",
         *overrides], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((Path(out) / "summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    return json.loads((Path(out) / "arch.json").read_text()), summary


def trainable_parameters(model):
    """What PyTorch's ``sum(p.numel() for p in model.parameters())`` counts of a
    network: weights, biases, batch normalization's scale and shift, not its running
    statistics (buffers in PyTorch)."""
    return sum(int(np.prod(p.shape))
               for p in model.get_net_parameters(grad_only=True).values())


def check_inference(model, shape, classes=CLASSES):
    """The network in inference mode gives finite logits for two random images."""
    x = nn.Variable.from_numpy_array(np.random.RandomState(0).randn(2, *shape)
                                     .astype(np.float32))
    model.apply(training=False)
    y = model(x)
    y.forward()
    assert y.shape == (2, classes) and np.isfinite(y.d).all()
