"""Us against the older public ``nnabla-nas==0.15.0``, side by side, on the same work.

Both packages are imported as ``nnabla_nas``, so each side runs in its own process:
ours with this interpreter (``.venv``), the reference with ``bench/.venv-ref`` (created
on first use from the same Python 3.10, with the same nnabla and numpy versions as
ours, and ignored by git). Every workload builds the same network on both sides, each
from its own package's classes, and the parameter counts are checked equal before
anything is timed (``bench/reference/worker_theirs.py`` says where the reference's API
needed an adjustment, and why). Then one process per measurement, alternating ours and
theirs (ABBA over rounds) so that machine drift cancels; medians are compared.

Workloads (``--workloads``, comma-separated):

* ``darts_step``: DARTS supernet training step, forward and backward of all
  parameters (32x32 input), at each configuration ``(init_channels, cells, batch)``
  of ``common.DARTS_SWEEP``, one row each: step time and peak resident memory the
  step adds (high-water mark minus the size after imports, the mark reset there).
* ``darts_search``: one DARTS search iteration, weight step plus first-order
  architecture step, with each package's searcher and the same optimizer settings.
* ``latency``: latency estimators on the same random MobileNetV2-style networks (batch
  1, 64x64), against the networks' measured latency: share within ±10%, MAPE,
  Kendall tau, and the time to profile them from an empty table. Ours is
  ``LatencyEstimator`` (profile, then calibrate on its own default calibration
  networks, reported apart); theirs ``LatencyGraphEstimator`` (per-function, the
  same granularity; its module-based ``LatencyEstimator`` is in the JSON), both with
  their default repeats.
* ``pnas_search``: one ProxylessNAS search iteration in the reference's MobileNetV2
  space (weight step plus architecture step, each package's default estimator).

Reproduce with::

    make venv && .venv/bin/python bench/vs_reference.py [--rounds 3] [--steps 5] \\
        [--workloads darts_step,latency] [--json results.json] [--quick]
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
WORKERS = os.path.join(BENCH, "reference")
for path in (ROOT, WORKERS):
    if path not in sys.path:
        sys.path.insert(0, path)

import common as C  # noqa: E402  (bench/reference/common.py, shared with the workers)

REFERENCE = "nnabla-nas==0.15.0"
SIDES = ("ours", "theirs")


class WorkerError(RuntimeError):
    """A worker failed or cannot run its workload; the message says which and why."""


# --------------------------------------------------------------- reference venv
def reference_pins() -> List[str]:
    """The reference with our nnabla and numpy, so that only nnabla_nas differs."""
    return [f"nnabla=={importlib.metadata.version('nnabla')}",
            f"numpy=={importlib.metadata.version('numpy')}", REFERENCE]


def _venv_versions(python: str) -> Optional[List[str]]:
    probe = ("import importlib.metadata as m; "
             "print(m.version('nnabla-nas'), m.version('nnabla'), m.version('numpy'))")
    try:
        # -I and cwd: our checkout's nnabla_nas.egg-info must not answer for theirs
        out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True,
                             timeout=120, cwd=WORKERS)
    except OSError:
        return None
    return out.stdout.split() if out.returncode == 0 else None


def ensure_reference_venv(venv: str, base_python: str) -> str:
    """The reference venv's interpreter, creating and installing the venv if it is
    missing or holds other versions (idempotent)."""
    python = os.path.join(venv, "bin", "python")
    wanted = [p.split("==")[1] for p in (reference_pins()[2], *reference_pins()[:2])]
    if _venv_versions(python) == wanted:
        return python
    print(f"setting up {venv}: {' '.join(reference_pins())}", file=sys.stderr)
    if not os.path.exists(python):
        subprocess.run([base_python, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", *reference_pins()],
                   check=True)
    found = _venv_versions(python)
    if found != wanted:
        raise SystemExit(f"{venv}: expected nnabla-nas, nnabla, numpy {wanted}, "
                         f"found {found}")
    return python


def base_interpreter() -> str:
    """The Python our venv was made from (the reference venv uses the same one)."""
    return getattr(sys, "_base_executable", None) or sys.executable


# ----------------------------------------------------------------------- workers
def run_worker(side: str, python: str, workload: str, steps: int, quick: bool,
               specs: Optional[str], check_only: bool = False,
               darts: Optional[Sequence[int]] = None) -> dict:
    """One worker process; its result, or WorkerError with its message."""
    script = os.path.join(WORKERS, f"worker_{side}.py")
    cmd = [python, script, workload, "--steps", str(steps)]
    cmd += ["--quick"] * quick + ["--check-only"] * check_only
    cmd += ["--specs", specs] if specs else []
    cmd += ["--darts", ",".join(str(v) for v in darts)] if darts else []
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # each side imports its own nnabla_nas, and only it
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=WORKERS, env=env)
    if proc.returncode == 3:  # the workload is not available on that side
        raise WorkerError(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise WorkerError(f"{side}: {workload} failed (exit {proc.returncode}): {tail}")
    return C.parse_result(proc.stdout)


def latency_specs(networks: int, size: int) -> dict:
    """Block specs of our seeded random networks, which the reference rebuilds."""
    from nnabla_nas.contrib.pnas.blocks import random_specs

    seeds = list(range(C.LATENCY["first_seed"], C.LATENCY["first_seed"] + networks))
    blocks = [[list(b) for b in random_specs(np.random.RandomState(s))] for s in seeds]
    return {"size": size, "seeds": seeds, "blocks": blocks}


def check_same_network(workload: str, checks: Dict[str, dict]) -> Optional[str]:
    """None if both sides built networks of equal parameter counts, else why not."""
    ours, theirs = checks["ours"]["params"], checks["theirs"]["params"]
    if ours != theirs:
        return f"{workload}: parameter counts differ, ours {ours} vs theirs {theirs}"
    return None


def function_difference(checks: Dict[str, dict]) -> Dict[str, List[int]]:
    """Function types whose counts differ between the two graphs: ``{type: [ours,
    theirs]}`` (summed over the networks of a list)."""
    totals = {}
    for side in SIDES:
        per = checks[side].get("functions", {})
        per = per if isinstance(per, list) else [per]
        totals[side] = {}
        for counts in per:
            for name, n in counts.items():
                totals[side][name] = totals[side].get(name, 0) + n
    names = sorted(set(totals["ours"]) | set(totals["theirs"]))
    return {n: [totals["ours"].get(n, 0), totals["theirs"].get(n, 0)] for n in names
            if totals["ours"].get(n, 0) != totals["theirs"].get(n, 0)}


def run_workload(name: str, pythons: Dict[str, str], rounds: int, steps: int,
                 quick: bool, specs: Optional[str],
                 darts: Optional[Sequence[int]] = None) -> dict:
    """Check that both sides build the same network, then alternate the timed runs."""
    out = {"workload": name, "checks": {}, "runs": {s: [] for s in SIDES}, "errors": {}}
    if darts:
        out["darts"] = list(darts)
    for side in SIDES:
        try:
            out["checks"][side] = run_worker(side, pythons[side], name, steps, quick, specs,
                                             check_only=True, darts=darts)["checks"]
        except WorkerError as err:
            out["errors"][side] = str(err)
    available = [s for s in SIDES if s not in out["errors"]]
    if len(available) == 2:
        mismatch = check_same_network(name, out["checks"])
        if mismatch:
            out["errors"]["both"] = mismatch
            return out
        out["function_difference"] = function_difference(out["checks"])
    for r in range(rounds):
        for side in available if r % 2 == 0 else available[::-1]:
            try:
                out["runs"][side].append(run_worker(side, pythons[side], name, steps,
                                                    quick, specs, darts=darts))
            except WorkerError as err:
                out["errors"][side] = str(err)
    out["median"] = {side: {k: float(np.median([run["metrics"][k] for run in runs]))
                            for k in runs[0]["metrics"]}
                     for side, runs in out["runs"].items() if runs}
    unequal = different_work(name, out["median"])
    if unequal:
        out["errors"]["both"] = unequal
    return out


def different_work(name: str, median: Dict[str, dict]) -> Optional[str]:
    """None if both sides did the same work by the workload's ``same`` metrics (or a
    side has no figures), else what differs."""
    if len(median) < 2:
        return None
    diff = [f"{k} ours {median['ours'].get(k)} vs theirs {median['theirs'].get(k)}"
            for k in C.WORKLOADS[name].same
            if median["ours"].get(k) != median["theirs"].get(k)]
    return f"{name}: not the same work: {', '.join(diff)}" if diff else None


def source_state() -> str:
    """Our package as benchmarked: the commit, and a digest of the working tree's
    ``nnabla_nas`` sources (others may commit or edit meanwhile)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()
    digest = hashlib.sha1()
    for folder, _, files in sorted(os.walk(os.path.join(ROOT, "nnabla_nas"))):
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return f"{head or '?'}, nnabla_nas sources {digest.hexdigest()[:8]}"


def _sources(state: str) -> str:
    return state.rsplit(" ", 1)[-1]


# ------------------------------------------------------------------------ report
def cpu_model() -> str:
    from nnabla_nas.contrib.estimator.measure import device_fingerprint
    return device_fingerprint("cpu")["device"]


def verdict(ratio: float, target) -> str:
    if target is None or np.isnan(ratio):
        return ""
    op, bound = target
    ok = ratio <= bound if op == "<=" else ratio >= bound
    return f"{op} {bound:g} {'ok' if ok else 'MISSED'}"


def table(results: Dict[str, dict]) -> List[str]:
    lines = [f"{'':38}{'ours':>11}{'theirs':>11}{'ours/theirs':>13}  target"]
    for name, res in results.items():
        wl = C.WORKLOADS[res.get("workload", name)]
        params = {s: res["checks"].get(s, {}).get("params") for s in SIDES}
        count = params["ours"] if params["ours"] is not None else params["theirs"]
        if isinstance(count, list):
            count = f"{len(count)} networks, {sum(count):,} parameters in all"
        elif count is not None:
            count = f"{count:,} parameters"
        lines.append(f"{name}: {wl.title}" + (f"; {count} on both sides" if
                                              None not in params.values() else ""))
        med = res.get("median", {})
        for m in wl.metrics:
            a, b = (med.get(s, {}).get(m.key, float("nan")) for s in SIDES)
            ratio = a / b if b else (float("inf") if a > 0 else float("nan"))
            cells = [m.fmt.format(v) if np.isfinite(v) else "n/a" for v in (a, b)]
            lines.append(f"  {m.label:36}{cells[0]:>11}{cells[1]:>11}"
                         f"{ratio:13.3f}  {verdict(ratio, m.target)}".rstrip())
        for side, err in res["errors"].items():
            lines.append(f"  ! {err}" if err.startswith(side) else f"  ! {side}: {err}")
        diff = res.get("function_difference")
        if diff:
            lines.append("  functions that differ (ours, theirs): " + ", ".join(
                f"{k} {a}/{b}" for k, (a, b) in diff.items()))
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds, one process per side each (3)")
    parser.add_argument("--steps", type=int, default=5,
                        help="timed steps per process after one warm-up step (5)")
    parser.add_argument("--workloads", default=",".join(C.WORKLOADS),
                        help=f"comma-separated, of: {', '.join(C.WORKLOADS)}")
    parser.add_argument("--networks", type=int, default=C.LATENCY["networks"],
                        help="random networks of the latency workload (%(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="1 round, 1 step, 4 networks, few repeats: a smoke test "
                             "whose figures mean nothing")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--ref-python", default=base_interpreter(),
                        help="Python 3.10 to create the reference venv with")
    parser.add_argument("--ref-venv", default=os.path.join(BENCH, ".venv-ref"),
                        help="the reference venv (created if missing)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in C.WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; valid: "
                     f"{', '.join(C.WORKLOADS)}")
    rounds, steps, networks = args.rounds, args.steps, args.networks
    if args.quick:
        rounds, steps, networks = 1, 1, min(networks, 4)

    state = source_state()
    pythons = {"ours": sys.executable,
               "theirs": ensure_reference_venv(args.ref_venv, args.ref_python)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        specs = None
        if "latency" in names:
            specs = os.path.join(tmp, "latency_specs.json")
            with open(specs, "w", encoding="utf-8") as f:
                json.dump(latency_specs(networks, C.LATENCY["size"]), f)
        for name in names:
            if name == "darts_step":  # one row per configuration of the sweep
                for config in C.DARTS_SWEEP:
                    results[f"{name} ({C.darts_label(config)})"] = run_workload(
                        name, pythons, rounds, steps, args.quick, None, darts=config)
                continue
            results[name] = run_workload(name, pythons, rounds, steps, args.quick,
                                         specs if name == "latency" else None)
    versions = {s: next((r["runs"][s][0] for r in results.values() if r["runs"][s]), {})
                for s in SIDES}
    print(f"us (nnabla-nas {versions['ours'].get('package', '?')}, checkout {state}) vs "
          f"nnabla-nas {versions['theirs'].get('package', '?')}; nnabla "
          f"{versions['ours'].get('nnabla', '?')}/{versions['theirs'].get('nnabla', '?')}; "
          f"{cpu_model()}, {os.cpu_count()} logical CPUs")
    print("\n".join(table(results)))
    end = source_state()
    if _sources(end) != _sources(state):
        print(f"! our nnabla_nas changed during the run ({state} -> {end}): rerun for "
              "figures of one version")
    print(f"medians of {rounds} alternating rounds (ABBA), {steps} timed steps after one "
          "warm-up per process, one process per measurement")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rounds": rounds, "steps": steps, "cpu": cpu_model(),
                       "ours_source": state, "ours_source_at_end": end,
                       "versions": versions, "results": results}, f, indent=1)
    failed = any("both" in r["errors"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
