"""``main.py derive``: the architecture of a search checkpoint, as ``arch.json``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from ..contrib.spaces import SEARCH_SPACES
from ..runner.checkpoint import CheckpointError, Checkpointer
from ..runner.regularizer import Regularizers, cost_terms
from ..runner.arch_costs import ArchCosts, delivered_options
from ..runner.searcher.search import derive_within_bounds
from ..utils.context import Device, use_context
from ..utils.memory import checked_build
from ..utils.output import adding_to
from .base import COMMANDS, PROG, Command, UsageError, add_config_arguments, \
    load_config, output_root, print_values, require_section
from .run import load_data, seed_everything


def checkpoint_tags(checkpoints: Checkpointer) -> list:
    """The checkpoint folders under ``checkpoints.root``, oldest first."""
    root = checkpoints.root
    if not os.path.isdir(root):
        return []
    return sorted(t for t in os.listdir(root)
                  if not t.startswith(".") and os.path.isdir(os.path.join(root, t)))


def pick_checkpoint(checkpoints: Checkpointer, tag: Optional[str], config_path: str
                    ) -> str:
    """``tag`` if it is an intact checkpoint, or the newest intact one.

    Raises:
        CheckpointError: naming the folder and the available tags, or what is damaged.
    """
    if tag is None:
        tag = checkpoints.latest(warn=lambda m: print(f"warning: {m}", file=sys.stderr))
        if tag is None:
            raise CheckpointError(f"{checkpoints.root}: no search checkpoint; run "
                                  f"`{PROG} search --config {config_path}` first")
        return tag
    tags = checkpoint_tags(checkpoints)
    if tag not in tags:
        raise CheckpointError(f"--checkpoint {tag}: no such checkpoint in "
                              f"{checkpoints.root}; available: {', '.join(tags) or 'none'}")
    problem = checkpoints.verify(tag)
    if problem is not None:
        raise CheckpointError(f"--checkpoint {tag}: {problem}")
    return tag


@COMMANDS.register("derive")
class Derive(Command):
    """Write arch.json from a search checkpoint.

    Rebuilds the config's supernet, loads the parameters of a search checkpoint in
    the output folder (the newest intact one, or --checkpoint TAG) and derives the
    architecture as the searcher does, keeping hard bounds of search.costs (and
    search.regularizers). Useful for a search that was stopped, an earlier
    checkpoint, or another bound (override it; the supernet's options must stay
    those of the run).
    """

    epilog = """
    examples:
      python main.py derive --config examples/quickstart.yaml
      python main.py derive --config examples/quickstart.yaml --checkpoint 00004-000000 \\
          --out arch_epoch4.json
      python main.py derive --config examples/quickstart.yaml --out small.json \\
          search.costs.memory.mode=hard search.costs.memory.bound=20000
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--checkpoint", metavar="TAG", default=None,
                            help="the checkpoint, a folder name in "
                            "<output>/checkpoints/search/ such as 00002-000000 (epochs "
                            "done, steps into the next); default: the newest intact one")
        parser.add_argument("--out", metavar="PATH", default=None,
                            help="the arch.json to write (default: <output>/arch.json, "
                            "which `main.py train` reads)")
        add_config_arguments(parser, output_help="the search's output folder")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        config = load_config(args.config, args.overrides)
        require_section(config, "search", "derive")
        root = output_root(args)
        checkpoints = Checkpointer(os.path.join(root, "checkpoints", "search"))
        tag = pick_checkpoint(checkpoints, args.checkpoint, args.config)
        space = SEARCH_SPACES.get(config.search.space.name)
        device = Device(config.context, config.device_id)
        with use_context(device.context):
            seed_everything(config.seed)
            data = load_data(config)
            model = checked_build(
                f"search.space ({space.name} supernet)",
                lambda rng: space.build_search(config.search.space.options, data.shape,
                                               data.num_classes, rng), config.seed)
            state = checkpoints.load(tag, model.get_parameters(), {})
            terms = cost_terms(config.search)
            regularizers = Regularizers(model, terms, [(1,) + tuple(data.shape)], device)
            arch_costs = ArchCosts(space, delivered_options(config)[0], data.shape,
                                   data.num_classes, terms, device, config.seed)
            # The searchers' own derivation (hard bounds on the delivered network
            # included), on the loaded state.
            arch, costs = derive_within_bounds(space, model, config.search.space.options,
                                               regularizers, arch_costs)
        try:
            if args.out:
                out = args.out
                space.save_arch(arch, out)
            else:
                with adding_to(root) as add:
                    out = add("arch.json")
                    space.save_arch(arch, out)
        except OSError as e:
            raise UsageError(f"--out {out}: cannot write the architecture ({e})") from None
        epoch, step = int(state["epoch"]), int(state["step"])
        done = f"{epoch} of {config.search.epochs} epochs done" + (
            f", {step} steps into epoch {epoch + 1}" if step else "")
        print(f"derived from checkpoint {tag} ({done}); written to {os.path.abspath(out)}")
        print(f"  architecture: {space.describe(arch)}")
        print_values({f"estimated_{name}_{regularizers.costs[name].unit}": round(v, 4)
                      for name, v in costs.items()})
        return 0
