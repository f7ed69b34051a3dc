"""The pure parts of bench/vs_reference.py: the reference's stand-in module, the worker
protocol, the registries, the accuracy figures and the report. Nothing here installs,
imports the reference or times anything."""
import ast
import importlib
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def modules():
    added = [p for p in (str(BENCH), str(BENCH / "reference")) if p not in sys.path]
    sys.path[:0] = added
    try:
        yield {name: importlib.import_module(name)
               for name in ("common", "worker_theirs", "vs_reference")}
    finally:
        for p in added:
            sys.path.remove(p)


def test_stand_in_holds_the_names_the_wheel_imports_and_they_fail_when_used(modules):
    w = modules["worker_theirs"]
    fake = {}
    stand_in = w.install_stand_in(fake)
    assert fake == {"nnabla_nas.contrib.classification.ofa.networks": stand_in}
    for name in ("ofa_mbv3", "ofa_xception", "ofa_resnet50"):
        with pytest.raises(ImportError, match="not in the nnabla-nas 0.15.0 wheel"):
            getattr(stand_in, name)()


def test_stand_in_leaves_a_shipped_module_alone(modules):
    w = modules["worker_theirs"]
    real = types.ModuleType(w.MISSING)
    fake = {w.MISSING: real}
    assert w.install_stand_in(fake) is real and fake[w.MISSING] is real


def imported_after(*names):
    """The ``nnabla`` and ``nnabla_nas`` modules a fresh interpreter holds after
    importing the bench modules ``names`` (with the bench folders on its path)."""
    code = ("import sys; sys.path[:0] = sys.argv[1:]\n"
            f"for name in {list(names)!r}: __import__(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('nnabla', 'nnabla_nas')))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code, str(BENCH.parent), str(BENCH),
                             str(BENCH / "reference")],
                            capture_output=True, text=True, timeout=120, env=env,
                            cwd=str(BENCH))
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def test_importing_the_driver_and_workers_imports_neither_nnabla_nor_nnabla_nas():
    # Both sides' packages are named nnabla_nas: the driver and the modules both
    # workers share must not import either (the workers import theirs when they run).
    assert imported_after("common", "worker_ours", "worker_theirs", "vs_reference",
                          "anatomy") == []


def test_the_import_check_sees_an_import_of_nnabla_nas():
    # The check above can fail: importing our package is seen.
    assert "nnabla_nas" in imported_after("common", "nnabla_nas")


def test_parse_result_reads_the_last_marked_line_among_library_chatter(modules):
    C = modules["common"]
    out = ("2026 [nnabla][INFO]: Initializing CPU extension...\n"
           f"{C.MARKER}{{\"a\": 1}}\nnoise\n{C.MARKER}{{\"a\": 2}}\n")
    assert C.parse_result(out) == {"a": 2}
    with pytest.raises(ValueError, match="no result line"):
        C.parse_result("only chatter\n")


def test_registry_names_bad_and_duplicate_workloads(modules):
    C = modules["common"]
    reg = C.Registry("ours")
    reg.register("darts_step")(lambda args: {})
    with pytest.raises(KeyError, match="registered twice"):
        reg.register("darts_step")
    with pytest.raises(KeyError, match="unknown workload 'dart_step'; valid: darts_step"):
        reg.register("dart_step")
    with pytest.raises(KeyError, match="registered: darts_step"):
        reg.get("latency")
    reg.register("latency", imports=("json", "nnabla"))(lambda args: {})
    assert reg.imports("latency") == ("json", "nnabla") and reg.imports("darts_step") == ()
    with pytest.raises(KeyError, match="no workload 'pnas_search'"):
        reg.imports("pnas_search")


def test_darts_configurations_parse_and_apply(modules):
    C = modules["common"]
    assert len(C.DARTS_SWEEP) >= 3 and C.DARTS_SWEEP[0] == (
        C.DARTS["init_channels"], C.DARTS["num_cells"], C.DARTS["batch"])
    assert len({(c, n) for c, n, _ in C.DARTS_SWEEP}) == len(C.DARTS_SWEEP)
    assert C.parse_darts_config("12,6,8") == (12, 6, 8)
    settings = C.darts_settings((12, 6, 8))
    assert (settings["init_channels"], settings["num_cells"], settings["batch"]) == (12, 6, 8)
    assert settings["size"] == C.DARTS["size"] and C.darts_settings() == C.DARTS
    assert C.darts_label((12, 6, 8)) == "C=12, 6 cells, batch 8"
    for bad in ("12,6", "12,6,0", "a,b,c", "12,6,8,1"):
        with pytest.raises(ValueError, match="expected three positive integers"):
            C.parse_darts_config(bad)


def test_peak_memory_does_not_count_what_was_freed_before_it(modules):
    # A peak made before the baseline (as by imports) is not the work's: 256 MiB
    # touched and freed first, then 64 MiB during the measured work.
    C = modules["common"]
    np.ones(2 ** 25).sum()  # 256 MiB of float64, freed on return
    memory = C.PeakMemory()
    block = np.ones(2 ** 23)  # 64 MiB
    growth = memory.growth_mib()
    del block
    assert 56 < growth < 160


@pytest.mark.parametrize("side", ["worker_theirs"])
def test_every_workload_has_an_implementation_on_the_reference_side(modules, side):
    assert sorted(modules[side].WORKLOADS.names()) == sorted(modules["common"].WORKLOADS)


def test_unique_count_counts_a_shared_parameter_once(modules):
    C = modules["common"]
    shared = types.SimpleNamespace(shape=(8, 1, 1, 1, 1))
    other = types.SimpleNamespace(shape=(3, 4))
    assert C.unique_count([shared, other, shared, shared]) == 8 + 12


def test_accuracy_against_hand_computed_figures(modules):
    C = modules["common"]
    acc = C.accuracy([1.05, 2.4, 2.7], [1.0, 2.0, 3.0])
    assert acc["within10_pct"] == pytest.approx(200 / 3)
    assert acc["mape_pct"] == pytest.approx(100 * (0.05 + 0.2 + 0.1) / 3)
    assert acc["kendall_tau"] == pytest.approx(1.0)


def test_same_network_check_and_function_difference(modules):
    V = modules["vs_reference"]
    checks = {"ours": {"params": 10, "functions": {"Mean": 1, "ReLU": 4}},
              "theirs": {"params": 10, "functions": {"GlobalAveragePooling": 1,
                                                     "ReLU": 4}}}
    assert V.check_same_network("w", checks) is None
    assert V.function_difference(checks) == {"GlobalAveragePooling": [0, 1],
                                             "Mean": [1, 0]}
    checks["theirs"]["params"] = 11
    assert V.check_same_network("w", checks) == \
        "w: parameter counts differ, ours 10 vs theirs 11"


def test_table_prints_ratios_targets_and_unavailable_sides(modules):
    V = modules["vs_reference"]
    results = {
        "darts_step": {"checks": {"ours": {"params": 5}, "theirs": {"params": 5}},
                       "errors": {},
                       "median": {"ours": {"step_ms": 70.0, "peak_mib": 90.0},
                                  "theirs": {"step_ms": 100.0, "peak_mib": 100.0}}},
        "pnas_search": {"checks": {"theirs": {"params": 7}},
                        "errors": {"ours": "ours: ProxylessNAS searcher not available yet"},
                        "median": {"theirs": {"iter_ms": 9.0, "peak_mib": 1.0}}},
    }
    text = "\n".join(V.table(results))
    assert "darts_step: DARTS supernet training step" in text
    assert "5 parameters on both sides" in text
    step = next(ln for ln in text.splitlines() if ln.strip().startswith("step (ms)"))
    assert step.split()[2:] == ["70.0", "100.0", "0.700", "<=", "0.8", "ok"]
    memory = next(ln for ln in text.splitlines() if "peak memory" in ln)
    assert memory.rstrip().endswith("MISSED")
    assert "  ! ours: ProxylessNAS searcher not available yet" in text
    iteration = next(ln for ln in text.splitlines() if "iteration" in ln)
    assert iteration.split() == ["iteration", "(ms)", "n/a", "9.0", "nan"]


def test_reinforce_row_must_compare_equal_sampled_path_forwards(modules):
    V, C = modules["vs_reference"], modules["common"]
    assert C.WORKLOADS["pnas_search_reinforce"].same == ("path_graphs",)
    assert f"{C.REINFORCE_PATHS} sampled-path forwards" in \
        C.WORKLOADS["pnas_search_reinforce"].title
    same = {"ours": {"iter_ms": 1.0, "path_graphs": 11.0},
            "theirs": {"iter_ms": 2.0, "path_graphs": 11.0}}
    assert V.different_work("pnas_search_reinforce", same) is None
    other = {"ours": {"path_graphs": 2.0}, "theirs": {"path_graphs": 11.0}}
    assert V.different_work("pnas_search_reinforce", other) == (
        "pnas_search_reinforce: not the same work: path_graphs ours 2.0 vs theirs 11.0")
    assert V.different_work("pnas_search", other) is None  # each side's default
    assert V.different_work("pnas_search_reinforce", {"theirs": {}}) is None


def test_call_counter_counts_calls_of_an_instance_method(modules):
    C = modules["common"]

    class Searcher:
        def update_graph(self, key):
            return key * 2

    s = Searcher()
    counter = C.CallCounter(s, "update_graph")
    assert [s.update_graph(k) for k in (1, 2, 3)] == [2, 4, 6] and counter.calls == 3
