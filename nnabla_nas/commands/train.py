"""``main.py train``: only the train section of a config."""
from __future__ import annotations

import argparse
import os

from ..config.loader import apply_overrides, read_yaml
from .base import COMMANDS, PROG, Command, InputError, add_config_arguments, \
    output_root, require_section, validate_config
from .run import execute


@COMMANDS.register("train")
class Train(Command):
    """Train an architecture from scratch: run only the config's train section.

    The architecture is --arch if given (the config's search section is then
    ignored), else the config's train.arch, else the arch.json the config's search
    wrote in the output folder (`main.py search --config FILE` first). Writes
    weights.h5, the network exported as network.nnp and network.onnx, pictures/ of
    the architecture, checkpoints, log.txt and summary.json, with the hardware
    figures of the trained network.
    """

    epilog = """
    examples:
      python main.py train --config examples/quickstart.yaml
      python main.py train --config examples/darts/digits_train.yaml --arch arch.json
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--arch", metavar="ARCH_JSON", default=None,
                            help="the arch.json to train; replaces train.arch and drops "
                            "the config's search section")
        add_config_arguments(parser, overwrite=True)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        data = apply_overrides(read_yaml(args.config), args.overrides)
        if args.arch is not None:
            data.pop("search", None)
            train = data.get("train") or {}
            if isinstance(train, dict):  # anything else: from_dict names the mistake
                data["train"] = dict(train, arch=args.arch)
        config = validate_config(data)
        require_section(config, "train", "train")
        root = output_root(args)
        if not config.train.arch and not os.path.isfile(os.path.join(root, "arch.json")):
            raise InputError(f"{os.path.join(root, 'arch.json')}: no such file; run "
                             f"`{PROG} search --config {args.config}` first, or pass "
                             "--arch")
        return execute(config, root, args.overwrite, phases=("train",))
