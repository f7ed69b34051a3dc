"""Shared by every test: the built-in components are registered.

The registries are filled by importing :mod:`nnabla_nas.builtins`, as the command line
does (a registry's module does not import its components). Importing it here, once,
lets any test look a built-in up by name (``SEARCH_SPACES.get("darts")``) or validate
a config that names one. ``tests/test_layers.py`` checks, in fresh interpreters, that
the registries start empty and that importing the builtins twice is harmless.
"""
import nnabla_nas.builtins  # noqa: F401
