"""``main.py score``: the zero-cost proxies of an architecture's untrained network."""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import OrderedDict
from typing import Any, Tuple

import numpy as np

from ..contrib.proxies import PROXIES, Batch, score
from ..contrib.spaces import SEARCH_SPACES, load_architecture
from ..utils.context import Device, use_context
from ..utils.memory import checked_build
from .base import COMMANDS, Command, UsageError, print_values, read_input
from .estimate import (DEFAULT_CLASSES, DEFAULT_SHAPE, add_output_arguments, check_sizes,
                       network_options)
from .run import load_data

#: Images the proxies see when the command line does not say.
DEFAULT_BATCH = 64


def proxy_names(text: str) -> list:
    """The proxies of ``--proxy``, comma separated; an unknown one is a UsageError that
    names it and the valid ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in PROXIES:
            raise UsageError(f"--proxy: {PROXIES.unknown_message(name)}")
    if not names:
        raise UsageError(f"--proxy: expected names among {', '.join(PROXIES.names())}")
    return names


def space_of(args: argparse.Namespace) -> Tuple[Any, Any, dict]:
    """``(space, train options, settings)`` from --config or --space, else from the
    architecture itself (its file's space, or the space whose notation it is in)."""
    if args.config is not None or args.space is not None:
        return network_options(args)
    if os.path.exists(args.arch):
        name = read_input("--arch", load_architecture, args.arch).space
    else:
        names = [n for n in SEARCH_SPACES.names()
                 if read_input("--arch", SEARCH_SPACES.get(n).from_text, args.arch)]
        if not names:
            raise UsageError(f"--arch: {args.arch}: no such file, and not an architecture "
                             "string of any space")
        name = names[0]
    args.space = name
    return network_options(args)


def batch_of(args: argparse.Namespace, settings: dict) -> Tuple[Batch, int, str]:
    """``(batch, classes, what the batch is)``: the first ``--batch-size`` training
    images of the config's dataset, or images of standard normal noise (and uniform
    labels) drawn with ``--seed``."""
    config = settings["config"]
    if config is not None:
        data = load_data(config)
        n = min(args.batch_size, len(data.train.x))
        return Batch(data.train.x[:n], data.train.y[:n]), data.num_classes, \
            config.dataset.name
    shape = tuple(args.input_shape or DEFAULT_SHAPE)
    classes = args.num_classes or DEFAULT_CLASSES
    rng = np.random.RandomState(args.seed)
    return Batch(rng.randn(args.batch_size, *shape),
                 rng.randint(0, classes, (args.batch_size, 1))), classes, \
        f"standard normal noise, seed {args.seed}"


@COMMANDS.register("score")
class Score(Command):
    """Score an arch.json's untrained network with zero-cost proxies.

    Builds the network an arch.json is trained as (with the config's train.net or the
    space's default train options) and computes each proxy on one batch: the config's
    first training images, or with --space (or an arch.json alone) images of noise.
    Higher is better for every proxy; `main.py list --kind proxies` describes them.
    """

    epilog = """
    examples:
      python main.py score --arch arch.json --proxy naswot,synflow
      python main.py score --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|' --json
      python main.py score --arch arch.json --config examples/quickstart.yaml --batch-size 32
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--arch", required=True, metavar="ARCH_JSON",
                            help="the architecture (arch.json, or an architecture "
                            "string of a space that has them)")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--config", help="a run config: its train.net and dataset")
        source.add_argument("--space", metavar="NAME", help="a registered search space, "
                            "with its default train options (default: the arch.json's)")
        parser.add_argument("--proxy", default=",".join(PROXIES.names()), metavar="NAMES",
                            help="proxies, comma separated (default: every one: "
                            f"{', '.join(PROXIES.names())})")
        parser.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                            help="the shape of the noise images (default: "
                            f"{' '.join(map(str, DEFAULT_SHAPE))})")
        parser.add_argument("--num-classes", type=int, metavar="N",
                            help=f"classes of the classifier (default: {DEFAULT_CLASSES}"
                            " or the config's dataset)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, metavar="N",
                            help=f"images in the batch (default: {DEFAULT_BATCH})")
        parser.add_argument("--seed", type=int, default=0,
                            help="seed of the network's initial weights and of the "
                            "noise (default: 0)")
        add_output_arguments(parser, "else the space's train options, e.g. channels=16")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        names = proxy_names(args.proxy)
        if not 1 <= args.batch_size <= 4096:
            raise UsageError(f"--batch-size: expected 1 to 4096, got {args.batch_size}")
        if not 0 <= args.seed < 2 ** 32:
            raise UsageError(f"--seed: expected 0 to 2**32 - 1, got {args.seed}")
        check_sizes(args.input_shape or DEFAULT_SHAPE, args.num_classes or DEFAULT_CLASSES)
        space, options, settings = space_of(args)
        arch = read_input("--arch", space.load_arch, args.arch)
        batch, classes, data = batch_of(args, settings)
        shape = batch.inputs.shape[1:]
        with use_context(Device(settings["context"], settings["device_id"]).context):
            model = checked_build(f"the {space.name} network",
                                  lambda rng: space.build_train(arch, options, shape,
                                                                classes, rng), args.seed)
            scores, seconds = OrderedDict(), OrderedDict()
            for name in names:
                start = time.perf_counter()
                scores.update(score(model, batch, [name]))
                seconds[name] = round(time.perf_counter() - start, 3)
        result = OrderedDict(arch=space.describe(arch), space=space.name,
                             input_shape=list(shape), num_classes=classes,
                             batch_size=len(batch.inputs), data=data, scores=scores,
                             seconds=seconds)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"zero-cost proxies of the {space.name} network {result['arch']}")
            print_values(OrderedDict((k, v) for k, v in result.items()
                                     if k not in ("arch", "scores", "seconds")))
            print_values(OrderedDict((f"{k} ({seconds[k]} s)", v)
                                     for k, v in scores.items()))
        return 0
