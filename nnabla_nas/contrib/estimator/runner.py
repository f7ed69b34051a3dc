"""Run an exported latency bundle on this device and write its profile table.

This file is copied into bundles as ``run_bundle.py``, next to
``nnabla_nas_measure.py`` (a copy of :mod:`nnabla_nas.contrib.estimator.measure`); it
needs only Python 3.8+, numpy and nnabla. Usage, in the bundle folder::

    python run_bundle.py [--output profile.json] [--context cpu] [--device-id 0]

It times every function NNP file of the bundle, then the calibration networks end to
end, fits the calibration, and writes a profile table with this device's fingerprint.
Load that file with ``nnabla_nas.contrib.estimator.import_table`` where the search
runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

try:  # inside the nnabla_nas package
    from . import measure
except ImportError:  # as run_bundle.py in a bundle folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import nnabla_nas_measure as measure  # type: ignore

BUNDLE_FORMAT = "nnabla-nas-latency-bundle"
BUNDLE_VERSION = 1
#: Functions loaded and timed together (bounds the memory their inputs take).
CHUNK = 256


def _context(name: str, device_id: int):
    from nnabla.ext_utils import get_extension_context
    if name == "cpu":
        return get_extension_context("cpu"), (lambda: None)
    from nnabla.ext_utils import import_extension_module
    ext = import_extension_module(name)
    return (get_extension_context(name, device_id=str(device_id)),
            lambda: ext.synchronize(device_id=str(device_id)))


def _load(folder: str, entry: dict, ctx):
    """The outputs of one NNP file of the bundle, with its inputs filled: a function's
    as :func:`measure.random_inputs` makes them, a network's (its parameters are in
    the file) with standard normal data."""
    import nnabla as nn
    from nnabla.utils.nnp_graph import NnpLoader
    path = os.path.join(folder, entry["file"])
    with nn.context_scope(ctx), nn.auto_forward(False):
        network = NnpLoader(path).get_network(entry["network"], batch_size=1)
    rng = np.random.RandomState(0)
    if "key" in entry:
        arrays = measure.random_inputs(measure.FunctionSpec.from_key(entry["key"]), rng)
        for i, array in enumerate(arrays):
            network.inputs[f"x{i}"].d = array
    else:
        for variable in network.inputs.values():
            variable.d = rng.standard_normal(variable.shape).astype(np.float32)
    return list(network.outputs.values())


def run(folder: str, output: str, context: str = "cpu", device_id: int = 0,
        log=print) -> dict:
    """Profile the bundle in ``folder`` and write the table to ``output``."""
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("version") != BUNDLE_VERSION:
        raise ValueError(f"{folder}/manifest.json: not a version {BUNDLE_VERSION} "
                         "latency bundle")
    ctx, sync = _context(context, device_id)
    statistic = manifest["statistic"]
    timing = manifest["function_timing"]
    start = time.perf_counter()
    entries = {}
    functions = manifest["functions"]
    for first in range(0, len(functions), CHUNK):
        chunk = functions[first:first + CHUNK]
        runs = [measure.forward_runner(_load(folder, entry, ctx)) for entry in chunk]
        samples = measure.time_round_robin(runs, timing["warmup"], timing["repeats"],
                                           timing["rounds"], sync)
        for entry, s in zip(chunk, samples):
            entries[entry["key"]] = {"ms": measure.summarize(s, statistic),
                                     "repeats": timing["repeats"]}
    log(f"{len(entries)} functions profiled in {time.perf_counter() - start:.1f} s")
    calibration = None
    networks = manifest.get("networks", [])
    if networks:
        runs = [measure.forward_runner(_load(folder, entry, ctx)) for entry in networks]
        timing = manifest["network_timing"]
        samples = measure.time_round_robin(runs, timing["warmup"], timing["repeats"],
                                           timing["rounds"], sync)
        measured = [measure.summarize(s, statistic) for s in samples]
        sums = [sum(entries[k]["ms"] for k in entry["functions"]) for entry in networks]
        counts = [len(entry["functions"]) for entry in networks]
        calibration = measure.fit_calibration(sums, counts, measured)
        log(f"calibrated on {len(networks)} networks: a={calibration['a']:.3f} "
            f"b={calibration['b'] * 1e3:.1f} us")
    fingerprint = measure.device_fingerprint(context, device_id)
    measure.write_text_atomically(output, measure.table_text(fingerprint, calibration,
                                                             entries, statistic))
    log(f"wrote {output} for '{measure.describe_fingerprint(fingerprint)}'")
    return {"entries": len(entries), "calibration": calibration}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)),
                        help="the bundle folder (default: this script's folder)")
    parser.add_argument("--output", default="profile.json",
                        help="the profile table to write (default: profile.json)")
    parser.add_argument("--context", default="cpu", help="cpu or cudnn (default: cpu)")
    parser.add_argument("--device-id", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.bundle, args.output, args.context, args.device_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
