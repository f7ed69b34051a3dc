"""The command line: ``python main.py --config FILE.yaml [--output-path DIR] [key=value]``,
and the commands ``python main.py {search,train,derive,estimate,export,list} ...``.

Without a command, a run validates the whole config before building anything, then
searches, retrains what it found (or a given ``arch.json``), and writes its results to
the output folder. The commands (:mod:`nnabla_nas.commands`) run one step each. A
user's mistake ends with one line naming the key or file and exit status 2; no
traceback.

The built-in components are registered by importing :mod:`nnabla_nas.builtins` here;
a user's own, by the modules a config's ``plugins:`` or the ``NNABLA_NAS_PLUGINS``
environment variable names (:mod:`nnabla_nas.config.plugins`), imported before any
config is validated.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import List, Optional

import nnabla as nn

from . import builtins  # noqa: F401  (registers the built-in components)
from .commands import COMMANDS, USER_ERRORS, InputError, execute, load_config, run_command
from .commands.base import PROG, add_config_arguments, commands_help, output_root, report
from .commands.run import run, seed_everything
from .config.plugins import ENV_VAR, import_env_plugins
from .utils.interrupt import Interrupted

__all__ = ["InputError", "USER_ERRORS", "load_config", "main", "parse_args", "run",
           "seed_everything"]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The arguments of the form without a command."""
    names = ",".join(COMMANDS.names())
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=f"{PROG} [-h] --config CONFIG [--output-path DIR] [--overwrite] "
              f"[key=value ...]\n       {PROG} {{{names}}} ... (--help on each)",
        description="Search an architecture and/or train one, as the config says.",
        epilog="Any config value can be overridden by its dotted key, e.g.\n"
               "search.epochs=2 dataset.valid_fraction=0.3\n\ncommands (one step "
               f"each; `{PROG} COMMAND --help`):\n{commands_help(COMMANDS.names())}"
               "\n\nplugins: your own search spaces, searchers, estimators or datasets, "
               "registered\nin your own modules, are imported from a config's "
               "`plugins: [my_pkg.my_data]`\nand, for every command, from "
               f"{ENV_VAR}=my_pkg.my_data,my_pkg.other\n(comma-separated "
               "module names; see examples/plugin/).")
    add_config_arguments(parser, overwrite=True,
                         output_help="output folder of the run")
    return parser.parse_args(argv)


def is_command(arg: str) -> bool:
    """Whether the first argument names a command (rather than starting the form
    without one: an option, or a ``key=value`` override)."""
    return not arg.startswith("-") and "=" not in arg


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    nn.logger.setLevel(logging.WARNING)  # NNabla logs every file it saves at INFO
    try:
        import_env_plugins()
    except USER_ERRORS as e:
        return report(e)
    if argv and is_command(argv[0]):
        return run_command(argv[0], argv[1:])
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
    except USER_ERRORS as e:
        return report(e)
    except KeyboardInterrupt:
        return report(Interrupted(signal.SIGINT, "stopped while reading the config; "
                                                 "nothing was written"))
    return execute(config, output_root(args), args.overwrite)
