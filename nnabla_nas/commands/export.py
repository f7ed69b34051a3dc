"""``main.py export``: the retrained network of a run as NNP (and ONNX) files."""
from __future__ import annotations

import argparse
import os

from ..contrib.spaces import SEARCH_SPACES
from ..export import ConverterNotInstalledError, OnnxExportError, export_nnp, export_onnx
from ..export.onnx import DEFAULT_OPSET, OPSETS
from ..runner.deliver import NNP_NAME
from ..utils.memory import checked_build
from ..utils.output import adding_to
from .base import COMMANDS, PROG, Command, InputError, UsageError, add_config_arguments, \
    load_config, output_root, read_input, require_section
from .run import load_data

FORMATS = ("nnp", "onnx")
#: The exports' file name without extension: the one a run's own export uses.
NAME = os.path.splitext(NNP_NAME)[0]


class FormatAction(argparse.Action):
    """``--format nnp onnx [key=value ...]``: the formats, and the overrides that
    follow them (``nargs="+"`` would take those too) kept for the config."""

    def __call__(self, parser, namespace, values, option_string=None):
        formats = [v for v in values if "=" not in v]
        for value in formats:
            if value not in FORMATS:
                parser.error(f"argument --format: invalid choice: {value!r} (choose from "
                             f"{', '.join(FORMATS)})")
        if not formats:
            parser.error("argument --format: expected at least one of "
                         f"{', '.join(FORMATS)}")
        setattr(namespace, self.dest, formats)
        namespace.more_overrides = [v for v in values if "=" in v]


@COMMANDS.register("export")
class Export(Command):
    """Export a run's retrained network (weights.h5) as NNP, and ONNX.

    Rebuilds the config's train network from the run's architecture (train.arch, or
    the output folder's arch.json), loads the output folder's weights.h5 and writes
    the inference graph (no auxiliary head, no drop path, batch normalization on its
    running statistics) to <output>/<name>.nnp, with the architecture and the
    dataset's preprocessing recorded in it; with onnx, also converts that file to
    <output>/<name>.onnx with NNabla's ONNX converter.
    """

    epilog = """
    example:
      python main.py export --config examples/quickstart.yaml --format nnp onnx
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--format", nargs="+", action=FormatAction, default=["nnp"],
                            metavar="{nnp,onnx}",
                            help="the files to write (default: nnp; onnx is converted "
                            "from the nnp file, which is written too)")
        parser.add_argument("--name", default=NAME,
                            help="file name of the exports, without extension (default: "
                            f"{NAME})")
        parser.add_argument("--opset", type=int, choices=OPSETS, default=DEFAULT_OPSET,
                            help=f"the ONNX opset (default: {DEFAULT_OPSET})")
        add_config_arguments(parser, output_help="the output folder of the trained run")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        overrides = getattr(args, "more_overrides", []) + args.overrides
        config = load_config(args.config, overrides)
        require_section(config, "train", "export")
        if not args.name or os.sep in args.name:
            raise UsageError(f"--name: expected a file name without folders, got "
                             f"{args.name!r}")
        root = output_root(args)
        weights = os.path.join(root, "weights.h5")
        if not os.path.isfile(weights):
            raise InputError(f"{weights}: no such file; train first (`{PROG} train "
                             f"--config {args.config}`)")
        space = SEARCH_SPACES.get(config.train.net.name)
        arch_path = config.train.arch or os.path.join(root, "arch.json")
        arch = read_input("train.arch", space.load_arch, arch_path)
        data = load_data(config)
        model = checked_build(f"train.net ({space.name} network)",
                              lambda rng: space.build_train(arch, config.train.net.options,
                                                            data.shape, data.num_classes,
                                                            rng), config.seed)
        read_input(weights, model.load_parameters, weights)
        with adding_to(root) as add:  # not while a run writes there
            nnp = export_nnp(model, data.shape, add(f"{args.name}.nnp"), arch=arch,
                             preprocessing=data.preprocessing)
            written = [nnp]
            if "onnx" in args.format:
                try:
                    written.append(export_onnx(nnp, add(f"{args.name}.onnx"),
                                               opset=args.opset))
                except (ConverterNotInstalledError, OnnxExportError) as e:
                    raise UsageError(f"--format onnx: {e}") from None
        for path in written:
            print(f"wrote {os.path.abspath(path)}")
        return 0
