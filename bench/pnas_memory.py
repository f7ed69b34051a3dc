"""Peak memory of a ProxylessNAS search step, against training the one network it
samples and against the DARTS-style supernet of the same space.

Three kinds of step on one ProxylessNAS space (the ``small`` stem and :data:`LAYOUT`,
batches of 3x32x32 images as in CIFAR-10, 10 classes), each in a fresh process:

* ``search``: :class:`ProxylessNasSearcher` steps (``estimator: gradient``, past the
  warm-up): the architecture step runs two candidates per block (binary gates), then
  the weight step one path. The searcher's draws are fixed to one pair per block, drawn
  from softmax(alpha) as it draws them; the first of each pair is the path that runs in
  both steps.
* ``child``: :class:`Trainer` steps of the :class:`TrainNet` of that path.
* ``full``: first-order DARTS searcher steps on the :class:`SearchNet` in mode
  ``'full'``: every candidate of every block runs, weighted by softmax(alpha), in both
  the architecture and the weight step.

How it is measured, as for ``bench/memory_estimator.py`` (with the same helpers,
:mod:`nnabla_nas.contrib.estimator.peak_memory`): NNabla's plain ``CpuArray`` with glibc
serving every allocation above 4 KiB by ``mmap`` (``MALLOC_MMAP_THRESHOLD_=4096``), so a
released buffer leaves the process at once. After one unmeasured step (it sets the
functions up and allocates gradients and solver states), the figure is the peak resident
set (VmHWM, reset through ``/proc/self/clear_refs``) during the next steps minus the
resident set before them: the activations, backward buffers and scratch a step needs.
Parameters are reported apart (float32 MiB, batch-norm statistics included).

On a shared 2-core machine the bench takes about 8 minutes (3 repeats).

Reproduce with (Linux only: it reads ``/proc/self/status``)::

    make venv && .venv/bin/python bench/pnas_memory.py [--repeats 3] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from memory_estimator import MIB, cpu_model
from nnabla_nas.contrib.estimator.peak_memory import ENV, peak_growth

#: Rows [expansion, channels, repeats, stride]: MobileNetV2's CIFAR stages up to 64
#: channels, where most of the activations are.
LAYOUT = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 2, 2]]
QUICK_LAYOUT = [[1, 8, 1, 1], [3, 8, 2, 1], [3, 16, 1, 2]]
STEPS = ("search", "child", "full")
WHAT = {"search": "ProxylessNAS search step: arch (2 paths) + weights (1 path)",
        "child": "training step of the sampled child network",
        "full": "DARTS-style step of the full supernet (first order)"}
TARGET = 1.3  # search / child


def settings(quick: bool) -> dict:
    if quick:
        return dict(layout=QUICK_LAYOUT, batch=4, size=16, width=1.0, head=64, steps=1)
    return dict(layout=LAYOUT, batch=32, size=32, width=1.0, head=256, steps=2)


# ------------------------------------------------------------------ in the child
def _data(batch: int, size: int, steps: int):
    from nnabla_nas.dataset import DatasetSplits, Split

    rng = np.random.RandomState(0)

    def split(n):
        return Split(rng.randn(n, 3, size, size).astype(np.float32),
                     (np.arange(n) % 10).reshape(n, 1).astype(np.int32))

    n = batch * (steps + 1)
    return DatasetSplits(split(n), split(n), split(batch), 10, "synthetic")


def _search_config(s: dict, searcher: dict):
    from nnabla_nas.config.loader import from_dict
    from nnabla_nas.runner.schema import SearchConfig

    return from_dict(SearchConfig, dict(
        epochs=1, warmup_epochs=0, batch_size=s["batch"], searcher=searcher,
        space=dict(name="proxylessnas", stem="small", stages=s["layout"],
                   width_multiplier=s["width"], stem_channels=16,
                   head_channels=s["head"])))


def child(step: str, quick: bool, folder: str) -> None:
    """In a fresh process: build the runner of ``step``, measure its steps, print JSON."""
    import gc

    import nnabla as nn
    import nnabla.random

    import nnabla_nas.builtins  # noqa: F401  (registers the spaces and searchers)
    from nnabla_nas.config.loader import from_dict
    from nnabla_nas.contrib.model import parameter_count
    from nnabla_nas.runner.schema import TrainConfig
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.runner.searcher import SEARCHERS
    from nnabla_nas.runner.run import Run
    from nnabla_nas.runner.trainer import Trainer
    from nnabla_nas.utils.output import RunOutput

    nn.prefer_cached_array(False)
    np.random.seed(0)
    nnabla.random.seed(0)
    s = settings(quick)
    data = _data(s["batch"], s["size"], s["steps"])
    space = SEARCH_SPACES.get("proxylessnas")
    output = RunOutput(os.path.join(folder, step), {"bench": step}, overwrite=True,
                       quiet=True)
    rng = np.random.RandomState(0)
    if step == "child":
        config = from_dict(TrainConfig, dict(epochs=1, batch_size=s["batch"],
                                             net=dict(name="proxylessnas", dropout=0.0)))
        model = space.build_train(space.load_arch(os.path.join(folder, "arch.json")),
                                  config.net.options, data.shape, 10, rng)
        runner = Trainer(Run(model=model, data=data, config=config, output=output,
                             space=space, quiet=True))
        runner.begin_epoch(0)
    else:
        searcher = {"name": "proxylessnas", "estimator": "gradient"} if step == "search" \
            else {"name": "darts", "order": 1}
        config = _search_config(s, searcher)
        model = space.build_search(config.space.options, data.shape, 10, rng)
        runner = SEARCHERS.get(searcher["name"])(Run(
            model=model, data=data, config=config, output=output, space=space,
            quiet=True))
    if step == "search":
        # One pair per block, drawn from softmax(alpha) as the searcher draws: the
        # architecture step runs both, the weight step the first, in every step, so
        # that the child network is the path the search trains.
        pairs = [m.draw(2) for m in runner.mixed]
        runner.sample = lambda count: [p[:count] for p in pairs]
        space.save_arch(space.derive(model, config.space.options, [p[0] for p in pairs]),
                        os.path.join(folder, "arch.json"))
    params = parameter_count(model.get_modules())
    runner.train_step(0, 0)  # sets functions up, allocates gradients and solver states
    gc.collect()

    def run():
        for i in range(1, 1 + s["steps"]):
            runner.train_step(0, i)

    peak = peak_growth(run)
    output.close()
    print(json.dumps({"peak": peak, "params": params, "nnabla": nn.__version__,
                      "arch": str(model.genotype if step == "child" else "")}))


# ----------------------------------------------------------------- in the parent
def measure(step: str, quick: bool, folder: str) -> dict:
    env = dict(os.environ, **ENV)
    args = [sys.executable, __file__, "--child", step, folder] + (["--quick"] if quick else [])
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{step} step failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="processes per step; the median is reported")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny layout, batch 4 of 16x16 images, one step (for tests)")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.quick, args.child[1])
    s = settings(args.quick)
    runs = {step: [] for step in STEPS}
    with tempfile.TemporaryDirectory(prefix="pnas_memory_") as folder:
        for _ in range(args.repeats):
            for step in STEPS:  # search first: it writes the child's architecture
                runs[step].append(measure(step, args.quick, folder))
    peak = {step: float(np.median([r["peak"] for r in runs[step]])) for step in STEPS}
    first = {step: runs[step][0] for step in STEPS}
    print(f"ProxylessNAS step memory: layout {s['layout']}, width {s['width']}, batch "
          f"{s['batch']} of 3x{s['size']}x{s['size']}, 10 classes, {s['steps']} step(s); "
          f"nnabla {first['search']['nnabla']}, {cpu_model()}; medians of "
          f"{args.repeats} processes")
    print(f"{'step':8}{'what runs':60}{'params (MiB)':>14}{'peak growth (MiB)':>19}")
    for step in STEPS:
        print(f"{step:8}{WHAT[step]:60}{first[step]['params'] * 4 / MIB:14.2f}"
              f"{peak[step] / MIB:19.2f}")
    print(f"child architecture: {first['child']['arch']}")
    ratio = peak["search"] / peak["child"]
    print(f"search / child: {ratio:.2f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'missed'})")
    print(f"search / full:  {peak['search'] / peak['full']:.2f}")


if __name__ == "__main__":
    main()
