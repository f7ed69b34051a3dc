"""``main.py list``: every registered component, with its options and their defaults.

Each kind of component is listed by a function registered in :data:`KINDS`; the ones
a config names (spaces, searchers, datasets) show the config keys their options live
under, read from the config schema.
"""
from __future__ import annotations

import argparse
import textwrap
from typing import Callable, List, Sequence

from ..config.describe import OptionRow, component_fields, keyword_rows, option_rows, \
    summary_line
from ..contrib.darts.ops import CANDIDATES
from ..contrib.estimator import ESTIMATORS
from ..contrib.estimator.base import module_estimators
from ..contrib.pnas.ops import CANDIDATES as PNAS_CANDIDATES
from ..contrib.proxies import PROXIES
from ..contrib.spaces import SEARCH_SPACES
from ..dataset import DATASETS
from ..registry import Registry
from ..runner.executor import EXECUTORS
from ..runner.regularizer import cost_config
from ..runner.schema import RunConfig
from ..runner.searcher import SEARCHERS
from .base import COMMANDS, Command, UsageError

#: Listers by kind name (``spaces``, ``searchers``, ...): each returns its lines.
KINDS = Registry("kind")
WIDTH = 88


def wrapped(text: str, indent: int) -> List[str]:
    """``text`` wrapped to :data:`WIDTH` columns at ``indent`` spaces."""
    pad = " " * indent
    return textwrap.wrap(text, WIDTH, initial_indent=pad, subsequent_indent=pad) or []


def option_table(rows: Sequence[OptionRow], indent: int, empty: str = "(no options)"
                 ) -> List[str]:
    """Each row as ``key: type = default  [constraint]`` and its description below."""
    pad = " " * indent
    if not rows:
        return [pad + empty]
    lines = []
    for row in rows:
        head = f"{pad}{row.key}: {row.type or '?'}"
        head += f" = {row.default}" if row.default else " (required)"
        lines.append(head + (f"  [{row.constraint}]" if row.constraint else ""))
        lines += wrapped(row.doc, indent + 4)
    return lines


def config_kind(registry: Registry) -> Callable[[], List[str]]:
    """The lister of a registry whose components a config names: for each, its
    description and one options table per config key naming it."""
    def lister() -> List[str]:
        fields = [f for f in component_fields(RunConfig) if f.registry is registry]
        keys = ", ".join(f"{f.key}.name" for f in fields)
        lines = [f"{registry.kind}s (config: {keys})"]
        for name in registry.names():
            component = registry.get(name)
            lines += ["", f"  {name}"] + wrapped(summary_line(component), 4)
            for field in fields:
                options = getattr(component, field.config_attr)
                lines.append(f"    {field.key} ({field.config_attr}):")
                lines += option_table(option_rows(options, field.key), 6)
        return lines
    return lister


@KINDS.register("config")
def list_config() -> List[str]:
    """The run config's own keys (components' options are listed by their kind)."""
    return ["run config (the keys of a config file; `key=value` overrides them)"] + \
        option_table(option_rows(RunConfig), 2)


KINDS.register("spaces")(config_kind(SEARCH_SPACES))
KINDS.register("searchers")(config_kind(SEARCHERS))
KINDS.register("datasets")(config_kind(DATASETS))
KINDS.register("executors")(config_kind(EXECUTORS))


@KINDS.register("estimators")
def list_estimators() -> List[str]:
    """Estimators: unit, the summary.json figures, the config keys of those a search
    can use as costs, and their constructor's keyword arguments."""
    costs = module_estimators()
    lines = ["estimators (config: search.costs.<name>; created in code with keyword "
             "arguments)"]
    for name in ESTIMATORS.names():
        estimator = ESTIMATORS.get(name)
        unit = getattr(estimator, "unit", "")
        lines += ["", f"  {name}" + (f"  [{unit}]" if unit else "")]
        lines += wrapped(summary_line(estimator), 4)
        key = getattr(estimator, "summary_key", "")
        if key:
            lines.append(f"    summary.json: search_arch_{key}, estimated_{key}")
        if name in costs:
            lines.append(f"    search.costs.{name}:")
            lines += option_table(option_rows(cost_config(estimator),
                                              f"search.costs.{name}"), 6)
        else:
            lines.append("    (prices NNabla graphs, not modules: not a search cost)")
        lines.append("    keywords:")
        lines += option_table(keyword_rows(estimator), 6, "(no keyword arguments)")
    return lines


def list_candidates(title: str, registry: Registry) -> List[str]:
    lines = [title]
    for name in registry.names():
        lines += ["", f"  {name}"] + wrapped(summary_line(registry.get(name)), 4)
    return lines


@KINDS.register("ops")
def list_ops() -> List[str]:
    """The candidate operations of DARTS cells, as arch.json names them."""
    return list_candidates("candidate operations of darts cells (built as "
                           "factory(channels, stride, affine))", CANDIDATES)


@KINDS.register("blocks")
def list_blocks() -> List[str]:
    """The candidate operations of ProxylessNAS blocks, as arch.json names them."""
    return list_candidates("candidate operations of proxylessnas blocks (built as "
                           "factory(in_channels, out_channels, stride, rng))",
                           PNAS_CANDIDATES)


@COMMANDS.register("list")
class ListComponents(Command):
    """List the registered components, their options and defaults.

    The run config's keys; search spaces, searchers and datasets with the config
    keys of their options (type, default, constraint, description); estimators with
    their unit, their summary.json keys, their options as costs (search.costs.<name>)
    and their keyword arguments; and the candidate operations of the search spaces.
    Numeric options are bounded so that memory stays finite: the constraint shows
    the range.
    """

    epilog = """
    examples:
      python main.py list
      python main.py list --kind searchers
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--kind", action="append", metavar="KIND",
                            help=f"only this kind: {', '.join(KINDS.names())} "
                            "(repeatable; default: all)")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        kinds = args.kind or KINDS.names()
        for kind in kinds:
            if kind not in KINDS:
                raise UsageError(f"--kind: {KINDS.unknown_message(kind)}")
        for i, kind in enumerate(kinds):
            if i:
                print()
            print("\n".join(KINDS.get(kind)()))
        return 0


@KINDS.register("proxies")
def list_proxies() -> List[str]:
    """The zero-cost proxies of `main.py score` (higher is better for each)."""
    return list_candidates("zero-cost proxies (main.py score --proxy NAMES)", PROXIES)
