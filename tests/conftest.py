"""Shared by every test: the built-in components are registered.

The registries are filled by importing :mod:`nnabla_nas.builtins`, as the command line
does (a registry's module does not import its components). Importing it here, once,
lets any test look a built-in up by name (``SEARCH_SPACES.get("darts")``) or validate
a config that names one. ``tests/test_layers.py`` checks, in fresh interpreters, that
the registries start empty and that importing the builtins twice is harmless.
"""
import os
import shutil
import sys
import tempfile

import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.commands import COMMANDS
from nnabla_nas.contrib.estimator import ESTIMATORS
from nnabla_nas.contrib.estimator.latency import SECONDS_ENV
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset import DATASETS
from nnabla_nas.runner.executor import EXECUTORS
from nnabla_nas.runner.searcher import SEARCHERS

from nnabla_nas.utils.cache import CACHE_ENV

REGISTRIES = (SEARCH_SPACES, SEARCHERS, ESTIMATORS, DATASETS, COMMANDS, EXECUTORS)
_CACHE = []


def pytest_configure(config):
    """Tests never write to the user's cache folder: the device's latency table (and
    its calibration) lives in a temporary folder, also for the commands the tests run
    in subprocesses (they inherit it). The session's main process makes the folder;
    pytest-xdist's workers inherit it from there, so that the device is calibrated
    once per session rather than once per worker (table saves are atomic and merge
    what another process saved meanwhile).

    Trained networks are timed over their fixed number of forwards only, not over
    the timing window of LatencyEstimator.SECONDS: no test asserts on time, and a
    window per runtime per run would add minutes to the suite."""
    os.environ[SECONDS_ENV] = "0"
    if getattr(config, "workerinput", None) is not None and os.environ.get(CACHE_ENV):
        return  # a worker: the main process's folder, which that process removes
    _CACHE.append(tempfile.mkdtemp(prefix="nnabla-nas-test-cache-"))
    os.environ[CACHE_ENV] = _CACHE[-1]


def pytest_unconfigure(config):
    for folder in _CACHE:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def plugin_path(monkeypatch):
    """``plugin_path(folder)`` puts ``folder`` on ``sys.path`` for one test; what the
    plugins found there register, and the plugin modules themselves, are forgotten
    after the test, so that other tests see the built-ins only."""
    for registry in REGISTRIES:
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    folders = []

    def add(folder):
        folders.append(os.path.abspath(str(folder)))
        monkeypatch.syspath_prepend(folders[-1])

    yield add
    for name, module in list(sys.modules.items()):
        path = os.path.abspath(getattr(module, "__file__", None) or "/")
        if any(path.startswith(folder + os.sep) for folder in folders):
            del sys.modules[name]


@pytest.fixture
def calibrated_table(tmp_path):
    """The path of a profile table file of the test's own, already calibrated on this
    device: a copy of the session's device table, calibrated on first use (once per
    session, see :func:`pytest_configure`). For tests that need a table file they may
    change but do not test calibration itself, which takes tens of seconds."""
    from nnabla_nas.contrib.estimator import LatencyEstimator
    estimator = LatencyEstimator()
    estimator.ensure_calibrated()
    estimator.table.save_if_changed()
    path = tmp_path / "calibrated-profile.json"
    shutil.copyfile(estimator.table.path, path)
    return str(path)
