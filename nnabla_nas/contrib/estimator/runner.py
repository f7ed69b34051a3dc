"""Run an exported latency bundle on this device and write its profile table.

This file is copied into bundles as ``run_bundle.py``, next to
``nnabla_nas_measure.py`` (a copy of :mod:`nnabla_nas.contrib.estimator.measure`); it
needs only Python 3.8+, numpy and nnabla. Usage, in the bundle folder::

    python run_bundle.py [--output profile.json] [--context cpu] [--device-id 0]
        [--threads N]

It times every function file of the bundle, then the calibration networks end to
end, fits the calibration, and writes a profile table with this device's fingerprint.
A bundle of ONNX files (``"runtime": "onnxruntime"`` in its manifest) is timed through
ONNX Runtime with ``--threads`` intra-op threads (default: NNabla's, the
``OMP_NUM_THREADS`` or the cores), and needs onnxruntime too.
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
    from . import measure, onnx_runtime
except ImportError:  # as run_bundle.py in a bundle folder
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import nnabla_nas_measure as measure  # type: ignore
    import nnabla_nas_onnx_runtime as onnx_runtime  # type: ignore

BUNDLE_FORMAT = "nnabla-nas-latency-bundle"
BUNDLE_VERSION = 1
#: What a bundle's files run on: NNabla (NNP files) or ONNX Runtime (ONNX files).
RUNTIMES = ("nnabla", "onnxruntime")
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


def _bad(where: str, expected: str, value) -> ValueError:
    text = repr(value)
    return ValueError(f"{where}: expected {expected}, got "
                      f"{text if len(text) <= 80 else text[:80] + '...'}")


def _int(where: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(where, f"an integer from {low} to {high}", value)
    return value


def _entry(folder: str, where: str, entry, fields: tuple) -> dict:
    """A ``functions`` or ``networks`` entry: its fields, and a plain relative file
    name inside ``folder``."""
    if not isinstance(entry, dict) or set(entry) != set(fields):
        raise _bad(where, f"an object with the fields {list(fields)}", entry)
    for name in ("file", "network") + (("key",) if "key" in fields else ()):
        if not isinstance(entry[name], str) or not entry[name]:
            raise _bad(f"{where}.{name}", "a non-empty string", entry[name])
    parts = entry["file"].split("/")
    if entry["file"].startswith("/") or ".." in parts or "\\" in entry["file"]:
        raise _bad(f"{where}.file", "a file name inside the bundle", entry["file"])
    return entry


def check_manifest(folder: str, manifest) -> dict:
    """The bundle's manifest with every field checked.

    Raises:
        ValueError: naming the field and what was expected.
    """
    where = f"{folder}/manifest.json"
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT \
            or manifest.get("version") != BUNDLE_VERSION:
        raise ValueError(f"{where}: not a version {BUNDLE_VERSION} latency bundle")
    expected = {"format", "version", "units", "statistic", "function_timing",
                "network_timing", "functions", "networks"}
    runtime = manifest.get("runtime", "nnabla")
    if runtime not in RUNTIMES:
        raise _bad(f"{where}: runtime", f"one of {list(RUNTIMES)}", runtime)
    optional = {"runtime"} | ({"overhead"} if runtime == "onnxruntime" else set())
    if not expected <= set(manifest) <= expected | optional:
        raise _bad(where, f"the fields {sorted(expected)} (and optionally "
                   f"{sorted(optional)})", sorted(manifest))
    if runtime == "onnxruntime":
        _entry(folder, f"{where}: overhead", {"file": manifest.get("overhead"),
                                              "network": "f"}, ("file", "network"))
    if manifest["units"] != "ms":
        raise _bad(f"{where}: units", "'ms'", manifest["units"])
    if manifest["statistic"] not in measure.STATISTICS:
        raise _bad(f"{where}: statistic", f"one of {list(measure.STATISTICS)}",
                   manifest["statistic"])
    for name in ("function_timing", "network_timing"):
        timing = manifest[name]
        if not isinstance(timing, dict) or set(timing) != {"warmup", "repeats", "rounds"}:
            raise _bad(f"{where}: {name}", "{'warmup', 'repeats', 'rounds'}", timing)
        _int(f"{where}: {name}.warmup", timing["warmup"], 0, 10_000)
        _int(f"{where}: {name}.repeats", timing["repeats"], 1, 1_000_000)
        _int(f"{where}: {name}.rounds", timing["rounds"], 1, 10_000)
    keys = set()
    for name, fields in (("functions", ("key", "file", "network")),
                         ("networks", ("file", "network", "functions"))):
        entries = manifest[name]
        if not isinstance(entries, list) or len(entries) > 1_000_000:
            raise _bad(f"{where}: {name}", "a list", type(entries).__name__)
        for i, entry in enumerate(entries):
            _entry(folder, f"{where}: {name}[{i}]", entry, fields)
            if name == "functions":
                keys.add(entry["key"])
            elif not isinstance(entry["functions"], list) or not all(
                    k in keys for k in entry["functions"]):
                raise _bad(f"{where}: networks[{i}].functions", "a list of the keys of "
                           "'functions'", entry["functions"])
    return manifest


def read_manifest(folder: str) -> dict:
    """The checked manifest of the bundle in ``folder`` (a regular file of at most
    64 MiB).

    Raises:
        ValueError: naming the file, for a file that is too large, not JSON, or not a
            valid manifest.
    """
    path = os.path.join(folder, "manifest.json")
    if not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
        raise ValueError(f"{path}: expected a regular file of at most 64 MiB")
    def non_finite(word):
        raise _bad(path, "finite numbers", word)

    with open(path, encoding="utf-8") as f:
        try:
            manifest = json.load(f, parse_constant=non_finite)
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply") from None
    return check_manifest(folder, manifest)


def _ort_runner(folder: str, entry: dict, threads: int):
    """One inference of an ONNX file of the bundle through ONNX Runtime, on inputs
    made as for NNabla: a function's as :func:`.onnx_runtime.function_feeds`, a
    network's standard normal."""
    session = onnx_runtime.make_session(os.path.join(folder, entry["file"]), threads)
    if "key" in entry:
        feeds = onnx_runtime.function_feeds(
            session, measure.FunctionSpec.from_key(entry["key"]))
    else:
        feeds = onnx_runtime.session_inputs(session)
    return onnx_runtime.session_runner(session, feeds)


def run(folder: str, output: str, context: str = "cpu", device_id: int = 0,
        log=print, threads=None) -> dict:
    """Profile the bundle in ``folder`` and write the table to ``output``
    (``threads``: ONNX Runtime's intra-op threads, for an ONNX Runtime bundle)."""
    manifest = read_manifest(folder)
    statistic = manifest["statistic"]
    timing = manifest["function_timing"]
    if manifest.get("runtime", "nnabla") == "onnxruntime":
        threads = onnx_runtime.nnabla_threads() if threads is None else threads
        fingerprint = onnx_runtime.fingerprint(threads)
        sync = lambda: None  # noqa: E731  (sessions return when done)
        load = lambda entry: _ort_runner(folder, entry, threads)  # noqa: E731
        overhead = load({"file": manifest["overhead"]})
    else:
        fingerprint = measure.device_fingerprint(context, device_id)
        ctx, sync = _context(context, device_id)
        load = lambda entry: measure.forward_runner(_load(folder, entry, ctx))  # noqa
        overhead = None
    start = time.perf_counter()
    entries = {}
    functions = manifest["functions"]
    for first in range(0, len(functions), CHUNK):
        chunk = functions[first:first + CHUNK]
        runs = [load(entry) for entry in chunk]
        if overhead is not None:
            times = onnx_runtime.time_functions(runs, overhead, timing["warmup"],
                                                timing["repeats"], timing["rounds"],
                                                statistic)
        else:
            times = [measure.summarize(s, statistic) for s in measure.time_round_robin(
                runs, timing["warmup"], timing["repeats"], timing["rounds"], sync)]
        for entry, ms in zip(chunk, times):
            entries[entry["key"]] = {"ms": ms, "repeats": timing["repeats"]}
    log(f"{len(entries)} functions profiled in {time.perf_counter() - start:.1f} s")
    calibration = None
    networks = manifest.get("networks", [])
    if networks:
        runs = [load(entry) for entry in networks]
        timing = manifest["network_timing"]
        samples = measure.time_round_robin(runs, timing["warmup"], timing["repeats"],
                                           timing["rounds"], sync)
        measured = [measure.summarize(s, statistic) for s in samples]
        features = [measure.calibration_features(
            [measure.FunctionSpec.from_key(k) for k in entry["functions"]],
            [entries[k]["ms"] for k in entry["functions"]]) for entry in networks]
        calibration = measure.fit_calibration(features, measured)
        log(f"calibrated on {len(networks)} networks: " + ", ".join(
            f"{k}={calibration[k]:.4g}" for k in measure.CALIBRATION_TERMS))
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
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime's intra-op threads for an ONNX Runtime "
                             "bundle (default: NNabla's, OMP_NUM_THREADS or the cores)")
    args = parser.parse_args(argv)
    try:
        run(args.bundle, args.output, args.context, args.device_id,
            threads=args.threads)
    except (OSError, ValueError) as e:  # a damaged bundle: one line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
