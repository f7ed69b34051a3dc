"""The commands of ``main.py``: ``search``, ``train``, ``derive``, ``estimate``,
``calibrate``, ``export`` and ``list``, one module each, registered in :data:`COMMANDS`.

``python main.py NAME --help`` describes each; :func:`run_command` parses and runs one.
Each command module registers its command when imported; :mod:`nnabla_nas.builtins`
imports them all. Importing this package parses nothing and writes nothing.
"""
from .base import COMMANDS, USER_ERRORS, Command, InputError, UsageError, load_config, \
    run_command
from .run import execute

__all__ = ["COMMANDS", "USER_ERRORS", "Command", "InputError", "UsageError",
           "execute", "load_config", "run_command"]
