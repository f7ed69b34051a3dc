"""Hardware awareness of the ProxylessNAS search: the digits example searched and
retrained without and with its latency regularizer.

Both runs are ``main.py`` on ``examples/proxylessnas/digits_search.yaml`` in
subprocesses, with the same seed:

* ``without``: the latency term is a hard bound of 1e6 ms with weight 0, which never
  binds and leaves the objective alone; it is there so that the run reports the
  estimated latency of the architecture it finds (``search_arch_latency_ms``);
* ``with``: the example as shipped (its ``search.regularizers.latency``).

The table shows what each run's ``summary.json`` reports: the architecture, its
estimated latency in the search space, the estimated and measured latency of the
retrained network (batch 1, ms), its parameters and test accuracy. The two runs'
latencies come from two processes, each profiling the CPU anew, so the retrained
networks are also estimated with one profile and timed side by side in this process
(rounds alternating between them, lower quartile of the samples), and the ratios of
those are the verdict: with/without should be at most 0.8 (20 % faster), estimated
and measured, with at most one point of test accuracy lost.

Accuracy is compared over several retrainings: on 359 test images one point is 3.6
images, and retraining one architecture with another seed moves its accuracy by about a
point. So besides the retraining in each search run (seed 0), each architecture is
retrained with ``--retrain-seeds`` more seeds through
``examples/proxylessnas/digits_train.yaml`` (the same train section; the seed also
draws the data split, so each seed tests both architectures on one split), and the
verdict is on the mean test accuracy over all of them.

The latency-regularized search depends on a CPU profile taken under the machine's
load, so its architecture can differ between runs with one seed. On a shared 2-core
machine one run takes 6 to 12 minutes.

The example's latency weight is chosen by ``--choose-weight``, never on the verdict's
runs: each weight of :data:`WEIGHTS` (and no latency term) is searched and retrained
once with the seed :data:`SELECTION_SEED`, which also draws another split of the data
than the example's seed 0 that the verdict uses, and :func:`chosen_weight` applies a
rule fixed here: the smallest weight whose retrained network measures at most
:data:`SPEEDUP` of the latency without the term (side by side) while losing at most
:data:`ACCURACY_LOSS` of test accuracy; if none does both, the fastest of those within
the accuracy loss; if none is within it, the smallest weight.

Reproduce with::

    make venv && .venv/bin/python bench/pnas_latency_search.py [--quick] [--keep DIR]
    .venv/bin/python bench/pnas_latency_search.py --choose-weight [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from memory_estimator import cpu_model

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "proxylessnas" / "digits_search.yaml"
TRAIN_CONFIG = ROOT / "examples" / "proxylessnas" / "digits_train.yaml"
RUNS = {"without": ["search.regularizers.latency={mode: hard, bound: 1.0e+6, weight: 0}"],
        "with": []}
#: A tiny space and one epoch of each phase: checks that the bench runs (for tests).
QUICK = ["search.epochs=2", "search.warmup_epochs=1", "search.batch_size=128",
         "search.space.stem_channels=8", "search.space.head_channels=16",
         "search.space.stages=[[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]]",
         "train.epochs=1", "train.batch_size=128"]
ROWS = ("search_arch_latency_ms", "estimated_latency_ms", "measured_latency_ms",
        "params", "test_accuracy", "search_time_s", "train_time_s")
SPEEDUP, ACCURACY_LOSS = 0.8, 0.01  # targets: with/without latency, accuracy points
ROUNDS, REPEATS, WARMUP = 10, 200, 20  # side-by-side timing
#: --choose-weight: the weights tried, and the seed (and so data split) they are tried
#: on, which the verdict (the example's seed 0) never uses.
WEIGHTS = (0.03, 0.06, 0.1, 0.3)
SELECTION_SEED = 1


def main_py(config: Path, out: Path, overrides: list) -> dict:
    """``main.py --config config`` with ``overrides`` into ``out``; its summary.json."""
    args = [sys.executable, str(ROOT / "main.py"), "--config", str(config),
            "--output-path", str(out), "--overwrite", "quiet=true"] + overrides
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{out.name} failed ({' '.join(args)}):\n{result.stderr}")
    return json.loads((out / "summary.json").read_text())


def run(name: str, folder: Path, quick: bool) -> dict:
    """One search and retraining through main.py; its summary.json."""
    return main_py(CONFIG, folder / name, RUNS[name] + (QUICK if quick else []))


def retrain(name: str, arch: str, seed: int, folder: Path, quick: bool) -> float:
    """Test accuracy of ``arch`` retrained alone with ``seed``."""
    quick_train = [o for o in QUICK if o.startswith("train.")] if quick else []
    summary = main_py(TRAIN_CONFIG, folder / f"{name}-seed{seed}",
                      [f"train.arch={arch}", f"seed={seed}"] + quick_train)
    return summary["test_accuracy"]


def check_same_training() -> None:
    """The retraining config trains as the search config's train section does."""
    from nnabla_nas.cli import load_config
    from nnabla_nas.config.loader import to_dict

    search, alone = (to_dict(load_config(str(c), [])) for c in (CONFIG, TRAIN_CONFIG))
    for d in (search, alone):
        d["train"].pop("arch", None)
    if (search["train"], search["dataset"]) != (alone["train"], alone["dataset"]):
        raise SystemExit(f"{TRAIN_CONFIG.name} no longer trains as {CONFIG.name}'s train "
                         "section does; make them equal")


def side_by_side(archs: dict) -> dict:
    """Estimated (one profile) and measured (alternating rounds) latency, batch 1, of
    the networks of ``archs`` (name -> arch.json), on the CPU."""
    import nnabla as nn

    import nnabla_nas.builtins  # noqa: F401  (registers the spaces and datasets)
    from nnabla_nas.contrib.estimator.latency import LatencyEstimator
    from nnabla_nas.contrib.estimator.measure import (forward_runner, summarize,
                                                      time_round_robin)
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.dataset import DATASETS

    space = SEARCH_SPACES.get("proxylessnas")
    options = space.TrainConfig()
    digits = DATASETS.get("digits")
    shape = (1,) + tuple(digits.load(digits.Config(), 0).shape)
    estimator, runners, estimated = LatencyEstimator(context="cpu"), [], {}
    for name, path in archs.items():
        net = space.build_train(space.load_arch(path), options, shape[1:], 10,
                                np.random.RandomState(0))
        net.apply(training=False)
        x = nn.Variable.from_numpy_array(np.random.RandomState(0).randn(*shape))
        out = net(x)
        estimated[name] = float(estimator.get_estimation(net))
        runners.append(forward_runner([out]))
    samples = time_round_robin(runners, WARMUP, REPEATS, ROUNDS)
    measured = {name: summarize(s, "lower_quartile") for name, s in zip(archs, samples)}
    return {"estimated_latency_ms": estimated, "measured_latency_ms": measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny space, two search epochs and one training epoch")
    parser.add_argument("--retrain-seeds", type=int, default=2, metavar="N",
                        help="retrain each architecture with N more seeds (1, 2, ...) and "
                             "compare mean test accuracies (default 2)")
    parser.add_argument("--choose-weight", action="store_true",
                        help=f"choose the example's latency weight among {WEIGHTS} on "
                             f"seed {SELECTION_SEED} instead of the verdict")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the runs' output folders in DIR (default: a temporary "
                             "folder, removed)")
    args = parser.parse_args()
    check_same_training()
    with tempfile.TemporaryDirectory(prefix="pnas_latency_") as tmp:
        folder = Path(args.keep or tmp)
        if args.choose_weight:
            choose_weight(folder, args.quick)
            return
        summaries = {name: run(name, folder, args.quick) for name in RUNS}
        archs = {name: s["arch_path"] for name, s in summaries.items()}
        arch_text = {name: _arch(path) for name, path in archs.items()}
        accuracies = {name: [summaries[name]["test_accuracy"]] for name in RUNS}
        for seed in range(1, args.retrain_seeds + 1):
            for name in RUNS:
                accuracies[name].append(retrain(name, archs[name], seed, folder,
                                                args.quick))
        here = side_by_side(archs)
    import nnabla as nn

    print(f"ProxylessNAS on the digits without and with a latency regularizer: "
          f"{CONFIG.relative_to(ROOT)}{' --quick' if args.quick else ''}, both runs seed "
          f"{_seed()}; nnabla {nn.__version__}, {cpu_model()}")
    for name in RUNS:
        print(f"  architecture {name:8} {arch_text[name]}")
    print(f"{'':36}{'without':>12}{'with':>12}{'with/without':>14}")
    rows = [(key, summaries["without"].get(key), summaries["with"].get(key))
            for key in ROWS]
    rows += [(f"{key} (side by side)", here[key]["without"], here[key]["with"])
             for key in ("estimated_latency_ms", "measured_latency_ms")]
    for key, a, b in rows:
        ratio = f"{b / a:14.3f}" if a and b is not None else f"{'':14}"
        print(f"{key:36}{_cell(a)}{_cell(b)}{ratio}")
    seeds = len(accuracies["without"])
    for name in RUNS:
        print(f"{'test_accuracy, retrained ' + name:36}"
              + " ".join(f"{a:.4f}" for a in accuracies[name])
              + f"  (seeds 0-{seeds - 1}; mean {np.mean(accuracies[name]):.4f})")
    speed = {key: here[key]["with"] / here[key]["without"] for key in here}
    loss = round(float(np.mean(accuracies["without"]) - np.mean(accuracies["with"])), 6)
    met = all(r <= SPEEDUP for r in speed.values()) and loss <= ACCURACY_LOSS
    print(f"with/without side by side: estimated {speed['estimated_latency_ms']:.3f}, "
          f"measured {speed['measured_latency_ms']:.3f} (target <= {SPEEDUP}); mean test "
          f"accuracy over {seeds} retrainings lost {100 * loss:+.2f} points (target <= "
          f"{100 * ACCURACY_LOSS:.0f}): "
          f"{'met' if met else 'missed'}")


def chosen_weight(trials: dict) -> float:
    """The weight the rule of the module docstring picks from ``trials``: by weight,
    ``(measured latency ratio to no latency term, test accuracy lost)``."""
    within = {w: r for w, (r, loss) in trials.items() if loss <= ACCURACY_LOSS}
    fast = [w for w, r in within.items() if r <= SPEEDUP]
    if fast:
        return min(fast)
    if within:
        return min(within, key=lambda w: (within[w], w))
    return min(trials)


def choose_weight(folder: Path, quick: bool) -> float:
    """Search and retrain without the latency term and with each of :data:`WEIGHTS`
    on :data:`SELECTION_SEED`; print what each gave and the weight chosen."""
    seed = [f"seed={SELECTION_SEED}"] + (QUICK if quick else [])
    names = {"without": RUNS["without"]}
    names.update((f"weight {w:g}", [f"search.regularizers.latency.weight={w}"])
                 for w in WEIGHTS)
    summaries = {name: main_py(CONFIG, folder / f"select-{name.replace(' ', '-')}",
                               overrides + seed)
                 for name, overrides in names.items()}
    here = side_by_side({name: s["arch_path"] for name, s in summaries.items()})
    measured = here["measured_latency_ms"]
    base_accuracy = summaries["without"]["test_accuracy"]
    trials = {}
    print(f"choosing the latency weight of {CONFIG.relative_to(ROOT)} on seed "
          f"{SELECTION_SEED} (the verdict uses seed {_seed()})"
          f"{' --quick' if quick else ''}")
    print(f"{'':14}{'measured ms':>12}{'ratio':>8}{'test acc':>10}{'lost':>8}  architecture")
    for name, summary in summaries.items():
        ratio = measured[name] / measured["without"]
        lost = round(base_accuracy - summary["test_accuracy"], 6)
        if name != "without":
            trials[WEIGHTS[list(summaries).index(name) - 1]] = (ratio, lost)
        print(f"{name:14}{measured[name]:12.4f}{ratio:8.3f}{summary['test_accuracy']:10.4f}"
              f"{100 * lost:+8.2f}  {_arch(summary['arch_path'])}")
    weight = chosen_weight(trials)
    print(f"chosen weight: {weight:g} (rule: the smallest with measured ratio <= "
          f"{SPEEDUP} and at most {100 * ACCURACY_LOSS:.0f} point lost)")
    return weight


def _cell(value) -> str:
    if value is None:
        return f"{'-':>12}"
    if isinstance(value, int):
        return f"{value:12d}"
    return f"{value:12.4f}"


def _arch(path: str) -> str:
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    space = SEARCH_SPACES.get("proxylessnas")
    return space.describe(space.load_arch(path))


def _seed() -> int:
    from nnabla_nas.cli import load_config
    return load_config(str(CONFIG), []).seed


if __name__ == "__main__":
    main()
