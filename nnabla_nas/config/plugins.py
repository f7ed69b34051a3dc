"""Plugins: a user's own modules, imported before a config is validated.

A plugin is an ordinary Python module that registers components with the registries'
decorators (a search space, searcher, estimator or dataset). Name it in a config::

    plugins: [my_pkg.my_dataset]     # importable module names (sys.path, PYTHONPATH)
    dataset:
      name: my_dataset               # registered by my_pkg.my_dataset

or, for every command of ``main.py`` (``list`` included), in the environment::

    NNABLA_NAS_PLUGINS=my_pkg.my_dataset,my_pkg.my_estimator python main.py list

A config's plugins are imported after its YAML is read and before the rest is validated,
so the rest may name what they register. Importing a module twice is harmless (Python
imports it once).
"""
from __future__ import annotations

import importlib
import os
from typing import Any, List, Mapping, Optional, Sequence

from .fields import ConfigError

#: The environment variable of the command line's plugins: comma-separated modules.
ENV_VAR = "NNABLA_NAS_PLUGINS"
#: The top-level config key of a config's plugins: a list of modules.
KEY = "plugins"


def import_plugins(names: Any, key: str = KEY) -> List[str]:
    """Import each module of ``names``; returns the names.

    Args:
        names: A list of importable module names (``None``: none).
        key: What ``names`` is called in messages (``plugins``, ``NNABLA_NAS_PLUGINS``).

    Raises:
        ConfigError: for a ``names`` that is not a list of module names, or a module
            that cannot be found or raises while it is imported; the message is one
            line starting with the key and the index (``plugins[0]: cannot import
            'my_pkg.x': ...``), and the error the import raised is its cause.
    """
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(f"{key}: expected a list of module names, got {names!r}")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{key}[{i}]: expected a module name, got {name!r}")
        try:
            importlib.import_module(name.strip())
        except Exception as e:  # anything the plugin raises: reported with its key
            message = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"{key}[{i}]: cannot import {name.strip()!r}: "
                              f"{type(e).__name__}{': ' + message if message else ''}"
                              ) from e
    return [name.strip() for name in names]


def env_plugins(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The module names of :data:`ENV_VAR` (empty entries skipped)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [name.strip() for name in value.split(",") if name.strip()]


def import_env_plugins(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """Import the modules of :data:`ENV_VAR`; errors as :func:`import_plugins`."""
    return import_plugins(env_plugins(environ), ENV_VAR)
