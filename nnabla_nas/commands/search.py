"""``main.py search``: only the search section of a config."""
from __future__ import annotations

import argparse

from .base import COMMANDS, Command, add_config_arguments, load_config, output_root, \
    require_section
from .run import execute


@COMMANDS.register("search")
class Search(Command):
    """Search an architecture: run only the config's search section.

    Writes arch.json, search_weights.h5, pictures/ (the architecture each epoch and
    the alpha plot), alpha_history.json, checkpoints, log.txt and summary.json to the
    output folder. The folder is the one `main.py --config FILE` uses, so a later
    `main.py train --config FILE` trains what this search found, and a rerun resumes
    from the newest checkpoint.
    """

    epilog = """
    example:
      python main.py search --config examples/quickstart.yaml search.epochs=2
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_config_arguments(parser, overwrite=True)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        config = load_config(args.config, args.overrides)
        require_section(config, "search", "search")
        return execute(config, output_root(args), args.overwrite, phases=("search",))
