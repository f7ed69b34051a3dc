"""What every command shares: the registry of commands, the user errors that end a
command with one line and exit status 2, and the config arguments.

A command is a :class:`Command` subclass registered in :data:`COMMANDS`::

    @COMMANDS.register("derive")
    class Derive(Command):
        \"\"\"Write arch.json from a search checkpoint.\"\"\"   # the one-line help

        @staticmethod
        def add_arguments(parser): ...

        @staticmethod
        def run(args) -> int: ...          # raises a USER_ERRORS for a user's mistake
"""
from __future__ import annotations

import argparse
import json
import inspect
import os
import signal
import sys
from typing import Any, Callable, List, Optional, Sequence

from ..config.fields import ConfigError
from ..config.loader import apply_overrides, from_dict, read_yaml
from ..config.plugins import KEY as PLUGINS_KEY, import_plugins
from ..contrib.estimator.table import ProfileTableError
from ..registry import Registry
from ..runner.budget import BudgetError
from ..runner.checkpoint import CheckpointError
from ..runner.executor import CandidatesFailed
from ..runner.meter import NonFiniteError
from ..runner.schema import RunConfig
from ..utils.context import DeviceError
from ..utils.files import FileInputError, clip
from ..utils.interrupt import Interrupted
from ..utils.memory import MemoryLimitError
from ..utils.output import OutputError

PROG = "main.py"

#: Commands by name: ``python main.py NAME ...``; each entry is a :class:`Command`.
COMMANDS = Registry("command")


class InputError(RuntimeError):
    """A file the command reads (dataset, arch.json, weights) is missing or malformed."""


class UsageError(ValueError):
    """A command-line argument is wrong (an unknown component name, a missing file)."""


#: Errors that are the user's to fix: reported as one line, exit status 2.
USER_ERRORS = (ConfigError, DeviceError, OutputError, CheckpointError, NonFiniteError,
               InputError, UsageError, ProfileTableError, BudgetError, FileInputError,
               MemoryLimitError, CandidatesFailed)
#: Longest message printed for an error (a longer one is cut).
MAX_MESSAGE = 1000


def read_input(what: str, load: Callable[..., Any], *args: Any) -> Any:
    """Call a loader of user files, turning its file errors into :class:`InputError`
    whose message starts with ``what``."""
    try:
        return load(*args)
    except (OSError, ValueError) as e:
        raise InputError(f"{what}: {e}") from None


def one_line(error: BaseException) -> str:
    """A user error, or an interruption, as one line of at most about
    :data:`MAX_MESSAGE` characters."""
    prefix = "" if isinstance(error, Interrupted) else "error: "
    return clip(prefix + str(error), MAX_MESSAGE)


def exit_status(error: BaseException) -> int:
    """2 for a user error; 128 + the signal number for an :class:`Interrupted` run."""
    return error.exit_status if isinstance(error, Interrupted) else 2


def report(error: BaseException) -> int:
    """Print a user error (or an interruption) as one line on standard error; return
    the exit status (see :func:`exit_status`)."""
    print(one_line(error), file=sys.stderr)
    return exit_status(error)


def validate_config(data: Any) -> RunConfig:
    """Validate parsed YAML into a :class:`RunConfig`, after importing the modules its
    ``plugins`` key names (so the rest may name the components they register)."""
    if isinstance(data, dict):
        import_plugins(data.get(PLUGINS_KEY), PLUGINS_KEY)
    return from_dict(RunConfig, data)


def load_config(path: str, overrides: Sequence[str]) -> RunConfig:
    """Read, override and validate a config file (plugins first).

    The built-in components must be registered (``import nnabla_nas.builtins``; the
    command line does).
    """
    return validate_config(apply_overrides(read_yaml(path), overrides))


def require_section(config: RunConfig, section: str, command: str) -> None:
    """Raise :class:`ConfigError` unless ``config`` has ``section``."""
    if getattr(config, section) is None:
        raise ConfigError(f"{section}: the config has no {section} section, which "
                          f"`{PROG} {command}` needs")


def add_config_arguments(parser: argparse.ArgumentParser, overwrite: bool = False,
                         output_help: str = "the run's output folder") -> None:
    """``--config``, ``--output-path``, optionally ``--overwrite``, and ``key=value``."""
    parser.add_argument("--config", required=True, help="the run's YAML config file")
    parser.add_argument("--output-path", default=None, metavar="DIR",
                        help=f"{output_help} (default: output/<config file name>)")
    if overwrite:
        parser.add_argument("--overwrite", action="store_true",
                            help="replace the run in an output folder that holds a "
                            "different run's config (only the files that run wrote are "
                            "removed)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides by dotted key, e.g. search.epochs=2")


def output_root(args: argparse.Namespace) -> str:
    """The output folder: ``--output-path``, or ``output/<config file name>``."""
    name = os.path.splitext(os.path.basename(args.config))[0]
    return args.output_path or os.path.join("output", name)


def format_value(value: Any) -> str:
    """A summary value as printed: floats to 6 significant digits."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def print_values(values: dict) -> None:
    """Print ``key: value`` lines, indented, as the run summary is printed (a
    mapping, such as ``bounds``, as indented JSON below its key)."""
    for k, v in values.items():
        if isinstance(v, dict):
            body = json.dumps(v, indent=2).replace("\n", "\n    ")
            print(f"  {k}:\n    {body}")
        else:
            print(f"  {k}: {format_value(v)}")


class Command:
    """A command of ``main.py``; subclasses are registered in :data:`COMMANDS`.

    The class docstring's first line is the command's one-line help, the whole
    docstring its description, and :attr:`epilog` its examples.
    """

    epilog: str = ""

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Add the command's options to ``parser``."""

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        """Run the command; return the exit status. A user's mistake raises one of
        :data:`USER_ERRORS`."""
        raise NotImplementedError


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of the registered command ``name``."""
    command = COMMANDS.get(name)
    doc = inspect.cleandoc(command.__doc__ or "")
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {name}", description=doc,
        epilog=inspect.cleandoc(command.epilog) if command.epilog else None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_arguments(parser)
    return parser


def run_command(name: str, argv: List[str]) -> int:
    """Parse ``argv`` for the command ``name`` and run it; an unknown name or a user
    error is one line on standard error and exit status 2."""
    if name not in COMMANDS:
        return report(UsageError(COMMANDS.unknown_message(name)))
    args = command_parser(name).parse_intermixed_args(argv)
    try:
        return COMMANDS.get(name).run(args)
    except (Interrupted, *USER_ERRORS) as e:
        return report(e)
    except KeyboardInterrupt:  # Ctrl-C in a command without checkpoints to save
        return report(Interrupted(signal.SIGINT, f"`{PROG} {name}` stopped; nothing to "
                                                 "resume, rerun it"))


def summary_of_doc(command: type) -> str:
    """A command's one-line help: the first line of its docstring."""
    return inspect.cleandoc(command.__doc__ or "").splitlines()[0]


def commands_help(names: Optional[Sequence[str]] = None) -> str:
    """``name  one-line help`` for every command, for the top-level ``--help``."""
    names = list(names if names is not None else sorted(COMMANDS.names()))
    width = max(map(len, names))
    return "\n".join(f"  {n:<{width}}  {summary_of_doc(COMMANDS.get(n))}" for n in names)
