"""Latency bundles: profile a search space on a device where the search does not run.

:func:`export_bundle` writes a self-contained folder:

* ``functions/NNNN.nnp``: one NNP network per distinct function the search space can
  execute (its micro-benchmark);
* ``networks/NN.nnp``: the calibration networks, whole;
* ``manifest.json``: the function keys, files and timing settings;
* ``run_bundle.py``, ``nnabla_nas_measure.py`` and ``nnabla_nas_onnx_runtime.py``: the
  runner, needing only numpy and nnabla (and onnxruntime for an ONNX Runtime bundle).

A bundle targets NNabla (NNP files) or ONNX Runtime (``runtime='onnxruntime'``,
``--runtime onnxruntime``: ONNX files converted here, timed there through ONNX
Runtime as the device ``onnxruntime-cpu`` times them; the table it makes carries
ONNX Runtime's fingerprint).

On the target device (a board, a phone-class CPU), ``python run_bundle.py`` writes a
profile table with that device's fingerprint; :func:`import_table` loads it where the
search runs, and ``LatencyEstimator(table=import_table(path))`` then estimates that
device's latency. Command line::

    python -m nnabla_nas.contrib.estimator export OUT [--space darts]
        [--shape 3,32,32] [--mobilenets 8] [--input 1,3,64,64]
        [--runtime nnabla|onnxruntime]
"""
from __future__ import annotations

import argparse
import os
import shutil
from typing import Dict, Optional, Sequence, Tuple, Union

import nnabla as nn
import numpy as np

from ...module import Module
from ...utils.context import make_context
from ...utils.output import write_json
from . import calibration, measure, runner
from .graph import graph_functions, module_graph
from .graph_files import function_graph, onnx_model, onnx_models, save_graph
from .ort_profiler import OVERHEAD_SPEC
from .latency import search_space_functions
from .profiler import REPEATS, ROUNDS, WARMUP
from .table import ProfileTable


def export_bundle(folder: str, modules: Union[None, Module, Sequence[Module]] = None,
                  specs: Sequence[measure.FunctionSpec] = (),
                  networks: Optional[Sequence[Module]] = None,
                  statistic: str = measure.DEFAULT_STATISTIC, warmup: int = WARMUP,
                  repeats: int = REPEATS, rounds: int = ROUNDS,
                  network_repeats: int = 100, network_rounds: int = 4,
                  runtime: str = "nnabla") -> str:
    """Write a latency bundle for every function ``modules`` (called once; every
    MixedOp candidate included) and ``specs`` need, with ``networks`` (default:
    :func:`.calibration.default_networks`; ``[]`` for none) for calibration.

    Args:
        folder: Where to write; must not exist or be empty.
        modules: The search space(s) or networks to cover.
        specs: More function specs to cover.
        networks: Whole networks (called once) measured end to end for calibration.
        statistic: Timing statistic the runner uses.
        warmup: Untimed calls per function and round.
        repeats: Timed samples per function.
        rounds: Round-robin passes over the functions.
        network_repeats: Timed forwards per calibration network.
        network_rounds: Round-robin passes over the calibration networks.
        runtime: What the device runs: ``'nnabla'`` (NNP files, timed with NNabla)
            or ``'onnxruntime'`` (ONNX files converted here by NNabla's exporter,
            timed with ONNX Runtime, as :class:`.ort_profiler.OrtProfiler` does).

    Returns:
        The path of the manifest.
    """
    if runtime not in runner.RUNTIMES:
        raise ValueError(f"export_bundle: runtime: expected one of "
                         f"{list(runner.RUNTIMES)}, got {runtime!r}")
    onnx = runtime == "onnxruntime"
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise FileExistsError(f"export_bundle: {folder!r} exists and is not an empty "
                              "folder")
    ctx = make_context("cpu")
    modules = [] if modules is None else [modules] if isinstance(modules, Module) \
        else list(modules)
    wanted = {s.key: s for s in specs}
    for spec in search_space_functions(modules, ctx):
        wanted.setdefault(spec.key, spec)
    networks = calibration.default_networks() if networks is None else networks
    graphs = [module_graph(net, ctx) for net in networks]
    for _, outputs in graphs:
        for spec in graph_functions(outputs):
            wanted.setdefault(spec.key, spec)
    os.makedirs(os.path.join(folder, "functions"), exist_ok=True)
    os.makedirs(os.path.join(folder, "networks"), exist_ok=True)
    functions = []
    specs = [spec for _, spec in sorted(wanted.items())]
    models = onnx_models([function_graph(s, ctx) for s in [OVERHEAD_SPEC] + specs]) \
        if onnx else None
    for i, spec in enumerate(specs):
        file = f"functions/{i:04d}.{'onnx' if onnx else 'nnp'}"
        if onnx:
            _write_bytes(os.path.join(folder, file), models[i + 1])
        else:
            save_graph(os.path.join(folder, file), "f", *measure.build_function(spec, ctx))
        functions.append({"key": spec.key, "file": file, "network": "f"})
    network_entries = []
    for i, (net, (inputs, outputs)) in enumerate(zip(networks, graphs)):
        file = f"networks/{i:02d}.{'onnx' if onnx else 'nnp'}"
        path = os.path.join(folder, file)
        if onnx:
            _write_bytes(path, onnx_model(inputs, outputs))
        else:
            save_graph(path, "net", inputs, outputs, net.get_parameters())
        network_entries.append({"file": file, "network": "net", "functions":
                                [s.key for s in graph_functions(outputs)]})
    manifest = {"format": runner.BUNDLE_FORMAT, "version": runner.BUNDLE_VERSION,
                "runtime": runtime, "units": "ms", "statistic": statistic,
                "function_timing": {"warmup": int(warmup), "repeats": int(repeats),
                                    "rounds": int(rounds)},
                "network_timing": {"warmup": 10, "repeats": int(network_repeats),
                                   "rounds": int(network_rounds)},
                "functions": functions, "networks": network_entries}
    if onnx:
        manifest["overhead"] = "functions/overhead.onnx"
        _write_bytes(os.path.join(folder, manifest["overhead"]), models[0])
    here = os.path.dirname(os.path.abspath(__file__))
    shutil.copyfile(os.path.join(here, "measure.py"),
                    os.path.join(folder, "nnabla_nas_measure.py"))
    shutil.copyfile(os.path.join(here, "onnx_runtime.py"),
                    os.path.join(folder, "nnabla_nas_onnx_runtime.py"))
    shutil.copyfile(os.path.join(here, "runner.py"), os.path.join(folder, "run_bundle.py"))
    path = os.path.join(folder, "manifest.json")
    write_json(path, manifest)
    return path


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def import_table(path: str) -> ProfileTable:
    """Load a profile table written by a bundle's runner on another device, to pass as
    ``LatencyEstimator(table=...)``. It is checked (format, checksum) but may come from
    any device, and is read-only: a function it lacks is an error, never profiled
    here.

    Raises:
        ProfileTableError: naming the file if it is corrupt.
    """
    return ProfileTable.load(path, fingerprint=None, read_only=True)


# ------------------------------------------------------------------ command line
def _ints(text: str) -> Tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}")


def _space_modules(name: str, shape: Tuple[int, ...], batch: int, classes: int):
    from ..spaces import SEARCH_SPACES
    space = SEARCH_SPACES.get(name)
    model = space.build_search(space.SearchConfig(), shape, classes,
                               np.random.RandomState(0))
    with nn.auto_forward(False):
        model(nn.Variable((batch,) + tuple(shape)))
    return [model]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nnabla_nas.contrib.estimator",
                                     description="Export latency micro-benchmarks.")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write a bundle folder")
    export.add_argument("folder")
    export.add_argument("--space", help="a registered search space (default config)")
    export.add_argument("--shape", type=_ints, default=(3, 32, 32),
                        help="input C,H,W of --space (default 3,32,32)")
    export.add_argument("--batch", type=int, default=1)
    export.add_argument("--classes", type=int, default=10)
    export.add_argument("--mobilenets", type=int, default=0,
                        help="also cover this many random MobileNetV2-style networks")
    export.add_argument("--input", type=_ints, default=None,
                        help="input N,C,H,W of --mobilenets (default 1,3,64,64) and of "
                             "the calibration networks (default: the default "
                             "calibration set, several sizes)")
    export.add_argument("--runtime", choices=runner.RUNTIMES, default="nnabla",
                        help="what the device runs: nnabla (default) or onnxruntime")
    args = parser.parse_args(argv)
    modules = []
    if args.space:
        modules += _space_modules(args.space, args.shape, args.batch, args.classes)
    modules += calibration.default_networks(args.input or (1, 3, 64, 64),
                                            range(args.mobilenets))
    path = export_bundle(args.folder, modules,
                         networks=calibration.default_networks(args.input),
                         runtime=args.runtime)
    print(f"wrote {path}; copy {args.folder} to the device and run "
          "`python run_bundle.py` there")
    return 0
