"""``main.py estimate``: what every registered estimator reports of the network of an
``arch.json`` (latency and memory for the built-in ones)."""
from __future__ import annotations

import argparse
import json
import os
from collections import OrderedDict
from typing import Any, Optional, Tuple

from ..config.loader import apply_overrides, from_dict
from ..contrib.estimator.bundle import import_table
from ..contrib.estimator.measure import describe_fingerprint
from ..contrib.estimator.ort_profiler import fingerprint_of as device_fingerprint
from ..contrib.model import parameter_count
from ..contrib.spaces import SEARCH_SPACES
from ..runner.hardware import hardware_summary
from ..utils.context import DEVICES, Device, use_context
from ..utils.memory import checked_build
from .base import COMMANDS, Command, UsageError, load_config, print_values, read_input
from .run import load_data

#: Input shape and classes when neither a config nor --input-shape gives them.
DEFAULT_SHAPE, DEFAULT_CLASSES = (3, 32, 32), 10
#: Largest channels, side and classes accepted: ImageNet-size inputs fit with room to
#: spare, and memory stays finite.
MAX_CHANNELS, MAX_SIDE, MAX_CLASSES = 16, 2048, 100_000


def profile_table(path: Optional[str], context: str, device_id: int) -> Any:
    """The device's profile table for ``--table``: the path itself for this device's
    table (reused, extended, created if missing), or the imported, read-only table of
    another device."""
    if path is None:
        return None
    if not os.path.exists(path):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"--table {path}: folder {folder} does not exist")
        return path
    table = import_table(path)
    return path if table.is_for(device_fingerprint(context, device_id)) else table


def check_sizes(shape: Tuple[int, ...], classes: int) -> None:
    """Raise :class:`UsageError` unless the input shape and classes are positive and
    within the bounds that keep memory finite."""
    if min(shape) < 1 or classes < 1:
        raise UsageError(f"--input-shape, --num-classes: expected positive sizes, got "
                         f"{' '.join(map(str, shape))} and {classes}")
    if shape[0] > MAX_CHANNELS or max(shape[1:]) > MAX_SIDE or classes > MAX_CLASSES:
        raise UsageError(f"--input-shape, --num-classes: expected at most "
                         f"{MAX_CHANNELS} channels, sides of {MAX_SIDE} and "
                         f"{MAX_CLASSES} classes (bounds that keep memory finite), got "
                         f"{' '.join(map(str, shape))} and {classes}")


def network_options(args: argparse.Namespace) -> Tuple[Any, Any, dict]:
    """``(space, train options, settings)`` from ``--config`` or ``--space``;
    settings holds what the config says of the context, device, seed and dataset."""
    if args.config is not None:
        config = load_config(args.config, args.overrides)
        if config.train is not None:
            name, options = config.train.net.name, config.train.net.options
        else:  # a search-only config: the space it searches, default train options
            name = config.search.space.name
            options = SEARCH_SPACES.get(name).TrainConfig()
        return SEARCH_SPACES.get(name), options, dict(
            context=config.context, device_id=config.device_id, seed=config.seed,
            config=config)
    if args.space not in SEARCH_SPACES:
        raise UsageError(f"--space: {SEARCH_SPACES.unknown_message(args.space)}")
    space = SEARCH_SPACES.get(args.space)
    options = from_dict(space.TrainConfig, apply_overrides({}, args.overrides), "train.net")
    return space, options, dict(context="cpu", device_id=0, seed=0, config=None)


def add_output_arguments(parser: argparse.ArgumentParser, overrides: str) -> None:
    """``--json`` and the ``key=value`` overrides (``overrides`` says what they are
    without --config)."""
    parser.add_argument("--json", action="store_true",
                        help="print the figures as one JSON object")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help=f"with --config: config overrides by dotted key; {overrides}")


@COMMANDS.register("estimate")
class Estimate(Command):
    """Estimate and measure the latency and memory of an arch.json's network.

    Builds the network an arch.json is trained as (the train network of its search
    space, with the options of the config's train.net, or the space's defaults with
    --space) for one image, and prints its estimated latency (profiled on this device,
    or from an imported profile table of another device), its latency measured here,
    its parameters and the peak memory of its activations.
    """

    epilog = """
    examples:
      python main.py estimate --arch output/quickstart/arch.json --config examples/quickstart.yaml
      python main.py estimate --arch arch.json --space darts --input-shape 3 32 32 init_channels=36
      python main.py estimate --arch arch.json --space darts --table board_profile.json --json
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--arch", required=True, metavar="ARCH_JSON",
                            help="the architecture (arch.json)")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--config", help="a run config: its train.net (space and "
                            "options), dataset (input shape, classes), context and "
                            "device; a search-only config gives its space's default "
                            "train options")
        source.add_argument("--space", metavar="NAME",
                            help="a registered search space, with its default train "
                            "options (`main.py list --kind spaces`)")
        parser.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                            help="the shape of one input image, at most "
                            f"{MAX_CHANNELS} {MAX_SIDE} {MAX_SIDE} (default: the config's "
                            f"dataset; {' '.join(map(str, DEFAULT_SHAPE))} with --space)")
        parser.add_argument("--num-classes", type=int, metavar="N",
                            help=f"classes of the classifier, at most {MAX_CLASSES} "
                            "(default: the config's dataset; "
                            f"{DEFAULT_CLASSES} with --space)")
        parser.add_argument("--context", choices=tuple(DEVICES), default=None,
                            help="the device to profile and measure on (default: the "
                            "config's context; cpu with --space); onnxruntime-cpu "
                            "profiles and measures through ONNX Runtime")
        parser.add_argument("--device-id", type=int, default=None, metavar="ID",
                            help="the GPU of the cudnn context (default: the config's "
                            "device_id; 0)")
        parser.add_argument("--table", metavar="PROFILE_JSON", default=None,
                            help="a profile table: this device's is reused and extended "
                            "(created if missing); one made on another device (a "
                            "latency bundle's) gives that device's estimated latency")
        add_output_arguments(parser, "with --space: the space's train options, e.g. "
                             "init_channels=36")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        check_sizes(args.input_shape or DEFAULT_SHAPE, args.num_classes or DEFAULT_CLASSES)
        space, options, settings = network_options(args)
        context = args.context or settings["context"]
        device_id = settings["device_id"] if args.device_id is None else args.device_id
        if not 0 <= device_id <= 1023:
            raise UsageError(f"--device-id: expected an integer from 0 to 1023, got "
                             f"{device_id}")
        arch = read_input("--arch", space.load_arch, args.arch)
        shape, classes = args.input_shape, args.num_classes
        if settings["config"] is not None and (shape is None or classes is None):
            data = load_data(settings["config"])
            shape, classes = shape or data.shape, classes or data.num_classes
        shape = tuple(shape or DEFAULT_SHAPE)
        classes = classes or DEFAULT_CLASSES
        check_sizes(shape, classes)
        device = Device(context, device_id, profile_table(args.table, context, device_id))
        here = device_fingerprint(context, device_id)
        with use_context(device.context):
            model = checked_build(f"the {space.name} network",
                                  lambda rng: space.build_train(arch, options, shape,
                                                                classes, rng),
                                  settings["seed"])
            figures = hardware_summary(model, shape, device)
        result = OrderedDict(
            arch=os.path.abspath(args.arch), space=space.name, input_shape=list(shape),
            num_classes=classes, context=context, device_id=device_id,
            estimated_for=describe_fingerprint(getattr(device.table, "fingerprint", here)),
            measured_on=describe_fingerprint(here),
            params=parameter_count(model.get_modules()))
        result.update(figures)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"{space.name} network of {result['arch']}")
            print_values(result)
        return 0
