"""One-shot search on the digits: supernets trained with ``spos`` and ``fairnas``,
searched by ``evolution`` and ``random`` under a latency bound, in the ProxylessNAS
MobileNetV2 space of ``examples/spos/digits.yaml``.

1. The latency bound is the ``--percentile`` (40th) of the estimated CPU latency
   (batch 1, ms, this machine's profile) of ``--latency-samples`` uniformly sampled
   architectures.
2. One supernet is trained with ``spos`` and one with ``fairnas`` for
   ``--supernet-epochs`` each (unconstrained: the bound applies to the search). FairNAS
   trains every candidate per step, so it costs about 7 SPOS steps per step; the time
   of each is printed.
3. ``evolution`` and ``random`` search the SPOS supernet with the same number of
   evaluated candidates (``--evaluations``), ``--seeds`` seeds each (from
   ``--seed``; random and printed by default). Printed: the best validation accuracy
   (inherited weights, batch-norm statistics re-estimated) mean +- std over seeds,
   the share of sampled (proposed) candidates within the bound, and the seconds per
   candidate evaluation.
4. Kendall tau between supernet-inherited and stand-alone accuracy of ``--tau-archs``
   uniformly sampled architectures, for each supernet: stand-alone means the path
   trained from scratch alone for ``--standalone-epochs`` epochs
   (:func:`~nnabla_nas.runner.candidate.trained_accuracy`, what ``evaluate: train``
   does). This is the known weakness of one-shot search: report it as it is.
5. Every architecture a search returned is retrained from scratch
   (``--retrain-epochs``), and its latency is measured (NNabla, batch 1, lower
   quartile) and its MACs counted: within the bound or not, in measurement. The
   latency estimate and measurement are noisy on a shared machine.

Everything runs in this process, one after the other. Sized for about 25 minutes on
an idle 2-core CPU; ``--quick`` is a smoke run (tests), and the options scale it up.

Reproduce with::

    .venv/bin/python bench/sampling_search.py [--seed N] [--evaluations 200] [--keep DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nnabla as nn  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

import nnabla_nas.builtins  # noqa: E402,F401
from nnabla_nas.commands.base import load_config  # noqa: E402
from nnabla_nas.commands.run import load_data  # noqa: E402
from nnabla_nas.config.loader import Component, from_dict  # noqa: E402
from nnabla_nas.contrib.estimator.expected import PathCosts  # noqa: E402
from nnabla_nas.contrib.estimator.latency import LatencyEstimator  # noqa: E402
from nnabla_nas.contrib.spaces import SEARCH_SPACES, labelled_ops  # noqa: E402
from nnabla_nas.runner import candidate as C  # noqa: E402
from nnabla_nas.runner.hardware import hardware_summary  # noqa: E402
from nnabla_nas.runner.regularizer import CostsConfig  # noqa: E402
from nnabla_nas.runner.run import Run  # noqa: E402
from nnabla_nas.runner.schema import TrainConfig  # noqa: E402
from nnabla_nas.runner.searcher import SEARCHERS  # noqa: E402
from nnabla_nas.runner.trainer import Trainer  # noqa: E402
from nnabla_nas.utils.context import Device  # noqa: E402
from nnabla_nas.utils.output import RunOutput  # noqa: E402

CONFIG = ROOT / "examples" / "spos" / "digits.yaml"
#: The space's smallest layout (its smoke options).
TINY = ["search.space.stem_channels=8", "search.space.head_channels=16",
         "search.space.stages=[[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]]",
         "search.batch_size=128"]


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None,
                   help="base seed; search runs use seed, seed+1, ... (default: random)")
    p.add_argument("--seeds", type=int, default=5, help="search runs per searcher")
    p.add_argument("--evaluations", type=int, default=100,
                   help="candidates evaluated per search run")
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--sample-size", type=int, default=5)
    p.add_argument("--bn-batches", type=int, default=4)
    p.add_argument("--supernet-epochs", type=int, default=10, help="of the spos supernet")
    p.add_argument("--fairnas-epochs", type=int, default=None,
                   help="of the fairnas supernet (default: --supernet-epochs); a "
                        "fairnas step trains every candidate, about 7 spos steps")
    p.add_argument("--percentile", type=float, default=40.0)
    p.add_argument("--latency-samples", type=int, default=200)
    p.add_argument("--tau-archs", type=int, default=12)
    p.add_argument("--standalone-epochs", type=int, default=3)
    p.add_argument("--retrain-epochs", type=int, default=3)
    p.add_argument("--keep", metavar="DIR", help="keep the run folders here")
    p.add_argument("--tiny-space", action="store_true",
                   help="the space's smallest layout (3 stages of 8-16 channels) instead "
                        "of the example's, for a loaded machine")
    p.add_argument("--quick", action="store_true",
                   help="--tiny-space and the smallest settings (tests)")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = int(np.random.SeedSequence().generate_state(1)[0] % 100_000)
    if args.fairnas_epochs is None:
        args.fairnas_epochs = args.supernet_epochs
    if args.quick:
        args.tiny_space = True
        args.seeds, args.evaluations, args.population, args.sample_size = 2, 6, 3, 2
        args.supernet_epochs, args.latency_samples, args.tau_archs = 1, 20, 4
        args.fairnas_epochs = 1
        args.standalone_epochs = args.retrain_epochs = 1
        args.bn_batches = 1
    return args


class Bench:
    def __init__(self, args, folder: Path):
        self.args, self.folder = args, folder
        overrides = [f"seed={args.seed}", "quiet=true",
                     f"search.epochs={args.supernet_epochs}",
                     f"search.searcher.bn_batches={args.bn_batches}",
                     "search.costs={}"] + (TINY if args.tiny_space else [])
        self.config = load_config(str(CONFIG), overrides)
        self.data = load_data(self.config)
        self.space = SEARCH_SPACES.get(self.config.search.space.name)
        self.options = self.config.search.space.options
        self.table = str(folder / "profile.json")

    def model(self, seed=0):
        return self.space.build_search(self.options, self.data.shape,
                                       self.data.num_classes, np.random.RandomState(seed))

    def run(self, name: str, searcher: Component, seed: int, costs=None) -> Run:
        search = dataclasses.replace(self.config.search, searcher=searcher)
        if costs is not None:
            search = dataclasses.replace(
                search, costs=CostsConfig.from_yaml(costs, "search.costs"))
        output = RunOutput(str(self.folder / name), {"bench": name}, quiet=True)
        return Run(model=self.model(seed), data=self.data, config=search, output=output,
                   space=self.space, quiet=True, seed=seed)

    # ------------------------------------------------------------- the bound
    def latency_bound(self) -> float:
        model = self.model()
        costs = PathCosts(model, LatencyEstimator(table=self.table),
                          inputs=[(1,) + tuple(self.data.shape)])
        groups = labelled_ops(model)
        rng = np.random.RandomState(self.args.seed)
        options = self.space.arch_options(self.options)
        values = [costs.of(C.arch_indices(groups, self.space.sample(options, rng)))
                  for _ in range(self.args.latency_samples)]
        return float(np.percentile(values, self.args.percentile))

    # ------------------------------------------------------------- supernets
    def supernet(self, trainer: str, epochs: int) -> tuple:
        cls = SEARCHERS.get(trainer)
        run = self.run(f"supernet_{trainer}", Component(trainer, cls.Config()),
                       self.args.seed)
        run = dataclasses.replace(run, config=dataclasses.replace(run.config,
                                                                  epochs=epochs))
        started = time.perf_counter()
        path = cls(run).train_supernet()
        return path, time.perf_counter() - started

    def searcher(self, name: str, supernet: str, seed: int, bound: float, tag: str):
        cls = SEARCHERS.get(name)
        options = {"evaluate": "supernet", "supernet_path": supernet,
                   "evaluations": self.args.evaluations, "bn_batches": self.args.bn_batches,
                   "top_k": 1}
        if name == "evolution":
            options.update(population=self.args.population,
                           sample_size=self.args.sample_size)
        component = Component(name, from_dict(cls.Config, options, "search.searcher"))
        costs = {"latency": {"mode": "hard", "bound": bound, "table": self.table}}
        return cls(self.run(tag, component, seed, costs))

    # ------------------------------------------------------------- retraining
    def retrain(self, arch, seed: int, tag: str) -> dict:
        """Train ``arch``'s network from scratch; its measured costs and accuracy."""
        train = from_dict(TrainConfig, {"epochs": self.args.retrain_epochs,
                                        "batch_size": self.config.search.batch_size,
                                        "net": {"name": self.space.name}}, "train")
        net = self.space.build_train(arch, train.net.options, self.data.shape,
                                     self.data.num_classes, np.random.RandomState(seed))
        output = RunOutput(str(self.folder / tag), {"bench": tag}, quiet=True)
        trainer = Trainer(Run(model=net, data=self.data, config=train, output=output,
                              space=self.space, quiet=True, seed=seed))
        trainer.run()
        accuracy = 1.0 - trainer.evaluate(self.data.test, "test")["error"]
        figures = hardware_summary(net, self.data.shape, Device("cpu", 0, self.table))
        output.close()
        return dict(figures, test_accuracy=accuracy)


def mean_std(values) -> str:
    return f"{np.mean(values):.4f} +- {np.std(values):.4f}"


def main(argv=None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        bench = Bench(args, folder)
        print(f"base seed {args.seed}; digits {len(bench.data.train)} train / "
              f"{len(bench.data.valid)} valid / {len(bench.data.test)} test; space "
              f"{bench.space.name}, {bench.space.size(bench.space.arch_options(bench.options))}"
              " architectures")
        bound = bench.latency_bound()
        print(f"latency bound: {bound:.4f} ms = percentile {args.percentile:g} of "
              f"{args.latency_samples} sampled architectures (estimated, CPU, batch 1)",
              flush=True)

        supernets = {}
        for trainer, epochs in (("spos", args.supernet_epochs),
                                ("fairnas", args.fairnas_epochs)):
            path, seconds = bench.supernet(trainer, epochs)
            supernets[trainer] = path
            print(f"supernet {trainer}: {epochs} epochs in {seconds:.1f} s", flush=True)

        rows, returned = {}, []
        for name in ("evolution", "random"):
            best, share, per = [], [], []
            for i in range(args.seeds):
                seed = args.seed + i
                s = bench.searcher(name, supernets["spos"], seed, bound,
                                   f"{name}_{seed}")
                arch = s.search()
                cands = s.candidates
                best.append(s.chosen.accuracy)
                share.append(len(cands) / sum(c.draws for c in cands))
                per.append(float(np.mean([c.seconds for c in cands])))
                returned.append((name, seed, arch, dict(s.chosen.costs)))
                s.output.close()
            rows[name] = (best, share, per)

        # Kendall tau: inherited (each supernet) against stand-alone accuracy.
        options = bench.space.arch_options(bench.options)
        rng = np.random.RandomState([args.seed, 7])
        archs = [bench.space.sample(options, rng) for _ in range(args.tau_archs)]
        inherited = {}
        for trainer, path in supernets.items():
            s = bench.searcher("random", path, args.seed, 1e9, f"tau_{trainer}")
            s.prepare_supernet()
            inherited[trainer] = [C.inherited_accuracy(s, bench.space, a, args.bn_batches,
                                                       args.seed) for a in archs]
            s.output.close()
        s = bench.searcher("random", supernets["spos"], args.seed, 1e9, "tau_standalone")
        standalone = [C.trained_accuracy(s, bench.space, a, lambda r: bench.model(
            int(r.randint(2 ** 31 - 1))), bench.config.search.net_optimizer,
            args.standalone_epochs, C.candidate_seed(args.seed, i))
            for i, a in enumerate(archs)]
        s.output.close()

        # Returned architectures, retrained and measured.
        checks = []
        for name, seed, arch, costs in returned:
            figures = bench.retrain(arch, seed, f"retrain_{name}_{seed}")
            checks.append((name, seed, costs["latency"], figures))

    print()
    print(f"{'searcher':<10} {'best valid acc (mean +- std)':>30} {'within bound':>13} "
          f"{'s / candidate':>14}")
    for name, (best, share, per) in rows.items():
        print(f"{name:<10} {mean_std(best):>30} {np.mean(share):>13.3f} "
              f"{np.mean(per):>14.3f}")
    print(f"({args.seeds} seeds from {args.seed}, {args.evaluations} candidates each, "
          f"on the spos supernet)")
    print()
    print(f"Kendall tau, inherited vs stand-alone ({args.standalone_epochs} epochs) "
          f"accuracy of {args.tau_archs} sampled architectures:")
    print(f"  stand-alone accuracies: {' '.join(f'{a:.3f}' for a in standalone)}")
    for trainer, values in inherited.items():
        tau, p = kendalltau(values, standalone)
        print(f"  {trainer:<8} tau {tau:+.3f} (p {p:.3f}); inherited: "
              f"{' '.join(f'{a:.3f}' for a in values)}")
    print()
    print(f"returned architectures retrained ({args.retrain_epochs} epochs) and measured, "
          f"latency bound {bound:.4f} ms:")
    print(f"  {'run':<16} {'est. in space':>13} {'est. net':>9} {'measured':>9} "
          f"{'MACs':>9} {'test acc':>8}  within (measured)")
    for name, seed, in_space, f in checks:
        ok = f["measured_latency_ms"] <= bound
        print(f"  {name + ' ' + str(seed):<16} {in_space:>13.4f} "
              f"{f['estimated_latency_ms']:>9.4f} {f['measured_latency_ms']:>9.4f} "
              f"{f['estimated_macs']:>9,} {f['test_accuracy']:>8.3f}  {ok}")
    within = sum(f["measured_latency_ms"] <= bound for *_, f in checks)
    print(f"  {within}/{len(checks)} within the bound in measurement; "
          f"{sum(f['estimated_latency_ms'] <= bound for *_, f in checks)}/{len(checks)} "
          "in the delivered network's estimate")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    nn.logger.setLevel("WARNING")
    sys.exit(main())
