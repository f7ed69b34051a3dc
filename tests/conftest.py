"""Shared by every test: the built-in components are registered.

The registries are filled by importing :mod:`nnabla_nas.builtins`, as the command line
does (a registry's module does not import its components). Importing it here, once,
lets any test look a built-in up by name (``SEARCH_SPACES.get("darts")``) or validate
a config that names one. ``tests/test_layers.py`` checks, in fresh interpreters, that
the registries start empty and that importing the builtins twice is harmless.
"""
import os
import sys

import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.commands import COMMANDS
from nnabla_nas.contrib.estimator import ESTIMATORS
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset import DATASETS
from nnabla_nas.runner.searcher import SEARCHERS

REGISTRIES = (SEARCH_SPACES, SEARCHERS, ESTIMATORS, DATASETS, COMMANDS)


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
