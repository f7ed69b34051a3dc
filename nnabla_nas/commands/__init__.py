"""The commands of ``main.py``: ``search``, ``train``, ``derive``, ``estimate``,
``export`` and ``list``, one module each, registered in :data:`COMMANDS`.

``python main.py NAME --help`` describes each; :func:`run_command` parses and runs one.
Importing this package registers the commands; it parses nothing and writes nothing.
"""
from .base import COMMANDS, USER_ERRORS, Command, InputError, UsageError, load_config, \
    run_command
from .run import execute

# The built-in commands register themselves on import, in the order of a session.
from . import search, train, derive, estimate, export, listing  # noqa: E402

__all__ = ["COMMANDS", "USER_ERRORS", "Command", "InputError", "UsageError",
           "execute", "load_config", "run_command",
           "search", "train", "derive", "estimate", "export", "listing"]
