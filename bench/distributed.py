"""Beyond one process: what data-parallel runs and streaming datasets cost here.

One script, one part per question, each chosen by name (``--part NAME``, several
allowed; all by default). Each part prints its own lines: what it measured, how, and
the figures. Parts so far:

``image_folder``
    Peak memory and images per second of the ``image_folder`` dataset over generated
    64x64 JPEGs (10 classes; pixels from ``numpy.random.RandomState(--seed)``), for
    each count of ``--images``. Each count runs in its own process, so that its peak
    resident memory (``ru_maxrss``) is its own: the process imports nnabla-nas, loads
    the dataset (``image_size`` 64, the default crop/flip augmentation; one pass that
    decodes every file once to check it and compute the channel statistics), then
    takes one epoch of the training split through a ``DataLoader`` (batch 64,
    shuffled, seed ``--seed``, 2 batches prefetched) and does nothing else with it.
    Printed per count: load seconds (traced by ``tracemalloc``, which slows it a
    little), epoch images per second, the memory the loaded dataset keeps (the
    ``tracemalloc`` total after loading: Python objects and numpy arrays), resident
    memory after the imports, and the peak over the whole run (``ru_maxrss``, which
    also counts freed memory that the allocator keeps, so a few MB of it is noise).
    ``--baseline DIR`` runs the same in a second process per count with another
    checkout's ``nnabla_nas`` (e.g. one before streaming: ``git worktree add /tmp/prev
    dec16b8``), side by side. The images are written under ``--workdir`` (default: a
    new folder in the system's temporary folder) and deleted afterwards.

``darts``
    Images per second of a DARTS search step (first-order architecture step on a
    validation batch, then the weight step on a training batch, as
    :class:`~nnabla_nas.runner.searcher.darts.DartsSearcher` runs them, with the
    per-step mean of the metrics over the ranks) at 1 process and at ``mpirun -n 2``,
    for the same global batch (``--darts-batch``, split over the ranks), on random
    3x32x32 images (``--darts-side``) of 10 classes. The supernet is the ``darts``
    space with ``--darts-channels`` initial channels, 5 cells, 3 nodes (all 3
    concatenated). Each configuration runs in its own process(es), with
    ``OMP_NUM_THREADS=1`` so that a rank is one core: one untimed epoch of
    ``--darts-steps`` steps, then a timed one. Printed: global
    images per second (each step computes 2 x the batch: one validation and one
    training batch; counted once, as the training images), seconds per step, the share
    of rank 0's step time spent inside the communicator's collectives (gradient
    means, metric means; it includes waiting for the slower rank), and the ratio of
    2-rank to 1-rank throughput.
``workers``
    Candidates per minute of a black-box search (``search.workers``,
    ``search.executor``) with each count of ``--workers`` (default 1 and 2), on each
    executor of ``--executors`` (default ``local`` and ``ray``): random search over
    the ``proxylessnas`` smoke space on the bundled digits (batch 32), each candidate
    scored with the weights of a supernet (initialized with seed ``--seed``, saved
    once; throughput does not depend on training it) after re-estimating batch-norm
    statistics on 2 batches (``--evaluate supernet``), or trained from scratch for one
    epoch (``--evaluate train``). Each configuration runs ``--candidates`` candidates
    into a new folder in one process, one after the other. Printed per configuration:
    the wall time of the whole search (worker start-up included), candidates per
    minute over it, candidates per minute once the first candidate is in (steady
    state, without the start-up), the mean scoring seconds of a candidate, and the
    steady-state speed-up over one worker of the same executor. One worker of
    ``local`` scores in the search's own process; one worker of ``ray`` is one actor.
    Ray is started once (``ray.init``, all the machine's cores) before its rows and
    its start-up time printed; every search checks that its journal equals the first
    one's apart from wall times (same seed, same results).

Reproduce with::

    make venv && .venv/bin/python bench/distributed.py --part image_folder \\
        --images 2000 20000 [--baseline DIR] [--seed 0]
    make venv && .venv/bin/python bench/distributed.py --part darts \\
        [--darts-batch 32] [--darts-steps 10] [--darts-channels 8]
    make venv && .venv/bin/python bench/distributed.py --part workers \\
        [--candidates 24] [--workers 1 2] [--executors local ray] [--evaluate supernet]

Timings share the machine with whatever else runs on it: compare figures printed by
one run, not across runs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

HERE = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ image_folder
CLASSES = 10
SIDE = 64
TEST_SHARE = 10  # one image in ten goes to val/


def write_jpegs(root: Path, count: int, seed: int) -> None:
    """``count`` SIDE x SIDE JPEGs under ``root/train/c<k>/`` and ``root/val/c<k>/``:
    smooth random colour gradients plus noise (so JPEG decoding does real work)."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    ramp = np.linspace(0, 1, SIDE, dtype=np.float32)
    for i in range(count):
        label = i % CLASSES
        split = "val" if (i // CLASSES) % TEST_SHARE == TEST_SHARE - 1 else "train"
        folder = root / split / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        a, b = rng.randint(0, 256, size=(2, 3)).astype(np.float32)
        image = a + (b - a) * ramp[None, :, None] + rng.randint(0, 32, (SIDE, SIDE, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            folder / f"{i:06d}.jpg", quality=90)


def image_folder_child(root: str, seed: int) -> Dict[str, float]:
    """In its own process: load ``root`` and take one epoch; the figures as a dict."""
    from PIL import Image, ImageOps, JpegImagePlugin  # noqa: F401  (imported by the
    # first decode otherwise, and counted as kept by the dataset)
    from nnabla_nas.dataset import DataLoader
    from nnabla_nas.dataset.image_folder import ImageFolder

    rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()  # what the loaded dataset keeps (Python and numpy allocations)
    start = time.perf_counter()
    data = ImageFolder.load(ImageFolder.Config(root=root, image_size=SIDE), seed=seed)
    loaded = time.perf_counter()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    with DataLoader(data.train, batch_size=64, shuffle=True, seed=seed,
                    augment=data.augment, prefetch=2) as loader:
        images = sum(len(y) for _, y in loader)
    done = time.perf_counter()
    return {"train_images": images, "load_s": loaded - start,
            "images_per_s": images / (done - loaded),
            "rss_imports_mb": rss_imports / 1024, "kept_mb": kept / 2 ** 20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def image_folder_part(args: argparse.Namespace) -> None:
    sources = {"ours": str(HERE)}
    if args.baseline:
        sources["baseline"] = os.path.abspath(args.baseline)
    print(f"image_folder: {SIDE}x{SIDE} JPEGs, {CLASSES} classes, 1 in {TEST_SHARE} in "
          f"val/; load (checking pass) then one training epoch, batch 64, prefetch 2, "
          f"seed {args.seed}; one process per count and source")
    for name, path in sources.items():
        print(f"  {name}: {path}")
    print(f"{'images':>8} {'source':>9} {'load s':>8} {'epoch img/s':>12} "
          f"{'kept MB':>8} {'RSS imports MB':>15} {'peak RSS MB':>12} "
          f"{'peak - imports':>15}")
    base = Path(args.workdir) if args.workdir else None
    for count in args.images:
        folder = Path(tempfile.mkdtemp(prefix="bench-image-folder-", dir=base))
        try:
            write_jpegs(folder, count, args.seed)
            for name, path in sources.items():
                env = dict(os.environ, PYTHONPATH=path)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", "image_folder", str(folder),
                     str(args.seed)], env=env, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f"{name} at {count} images failed:\n{out.stderr}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{count:>8} {name:>9} {r['load_s']:>8.2f} "
                      f"{r['images_per_s']:>12.0f} {r['kept_mb']:>8.1f} "
                      f"{r['rss_imports_mb']:>15.0f} "
                      f"{r['peak_rss_mb']:>12.0f} "
                      f"{r['peak_rss_mb'] - r['rss_imports_mb']:>15.0f}", flush=True)
        finally:
            shutil.rmtree(folder)


# ------------------------------------------------------------------ darts
#: The communicator's collectives whose time counts as communication.
COLLECTIVES = ("allreduce_mean_grads", "allreduce_mean", "bcast_object",
               "bcast_parameters", "barrier")


def timed_collectives(comm) -> Dict[str, float]:
    """Wrap ``comm``'s collectives to add their wall time to the returned dict."""
    spent = {"s": 0.0}
    for name in COLLECTIVES:
        method = getattr(comm, name)

        def timed(*args, _method=method, **kwargs):
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - start

        setattr(comm, name, timed)
    return spent


def darts_child(batch: int, steps: int, channels: int, side: int, seed: int
                ) -> Dict[str, float]:
    """In a process of its own (or one rank of ``mpirun``): an untimed epoch of
    ``steps`` DARTS steps of a global ``batch``, then a timed one."""
    from nnabla_nas import builtins  # noqa: F401  (registers the components)
    from nnabla_nas.config.loader import from_dict
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.dataset import DatasetSplits, Split
    from nnabla_nas.runner.run import Run
    from nnabla_nas.runner.schema import RunConfig
    from nnabla_nas.runner.searcher.darts import DartsSearcher
    from nnabla_nas.utils.communicator import make_communicator
    from nnabla_nas.utils.output import RankOutput, RunOutput

    comm = make_communicator("cpu")
    spent = timed_collectives(comm)
    rng = np.random.RandomState(seed)

    def split(n):
        return Split(rng.randn(n, 3, side, side).astype(np.float32),
                     rng.randint(0, 10, (n, 1)).astype(np.int32))

    data = DatasetSplits(split(batch * steps), split(batch * steps), split(batch), 10,
                         "random")
    config = from_dict(RunConfig, {
        "seed": seed, "quiet": True,
        "search": {"epochs": 2, "warmup_epochs": 0, "batch_size": batch,
                   "space": {"name": "darts", "init_channels": channels, "num_cells": 5,
                             "num_nodes": 3, "multiplier": 3},
                   "searcher": {"name": "darts", "order": 1}}}).search
    space = SEARCH_SPACES.get("darts")
    model = space.build_search(config.space.options, data.shape, data.num_classes,
                               np.random.RandomState(seed))
    folder = tempfile.mkdtemp(prefix="bench-darts-") if comm.is_main else ""
    folder = comm.bcast_object(folder)
    output = (RunOutput(folder, {"bench": "darts"}, quiet=True) if comm.is_main
              else RankOutput(folder, comm.rank))
    try:
        searcher = DartsSearcher(Run(model=model, data=data, config=config,
                                     output=output, seed=seed, space=space, quiet=True,
                                     comm=comm), callbacks=[])
        comm.bcast_parameters(model.get_parameters())
        searcher.train_epoch(0)  # untimed: first calls, allocations
        comm.barrier()
        spent["s"] = 0.0
        start = time.perf_counter()
        searcher.train_epoch(1)
        elapsed = time.perf_counter() - start
        comm.barrier()
    finally:
        output.close()
        if comm.is_main:
            shutil.rmtree(folder)
    shares = comm.allgather_object(spent["s"] / elapsed)
    return {"ranks": comm.size, "steps": searcher.steps_per_epoch,
            "images_per_s": batch * searcher.steps_per_epoch / elapsed,
            "step_s": elapsed / searcher.steps_per_epoch,
            "comm_share": shares[0], "comm_share_max": max(shares),
            "rank": comm.rank}


def darts_part(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from nnabla_nas.utils.communicator import SIZE_VARIABLES
    from tests.utils.test_communicator import find_mpirun

    mpirun = find_mpirun()
    env = dict(os.environ, PYTHONPATH=str(HERE), OMP_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    for name in SIZE_VARIABLES:
        env.pop(name, None)
    child = [sys.executable, __file__, "--child", "darts", str(args.darts_batch),
             str(args.darts_steps), str(args.darts_channels), str(args.darts_side),
             str(args.seed)]
    print(f"darts: DARTS first-order search steps, darts space (init_channels "
          f"{args.darts_channels}, 5 cells, 3 nodes), random 3x{args.darts_side}x"
          f"{args.darts_side} images, 10 "
          f"classes; global batch {args.darts_batch} split over the ranks; "
          f"{args.darts_steps} timed steps after {args.darts_steps} untimed; "
          f"OMP_NUM_THREADS=1; {os.cpu_count()} CPUs here")
    print(f"{'ranks':>6} {'img/s':>8} {'s/step':>8} {'comm share (rank 0)':>20} "
          f"{'comm share (max)':>17}")
    rates = {}
    for ranks in (1, 2):
        if ranks > 1 and mpirun is None:
            print(f"{ranks:>6} skipped: mpirun not found (pip install 'nnabla-nas[mpi]')")
            continue
        command = child if ranks == 1 else [mpirun, "-n", str(ranks), "--oversubscribe",
                                            *child]
        out = subprocess.run(command, env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"darts at {ranks} ranks failed:\n{out.stderr}")
        results = [json.loads(line) for line in out.stdout.splitlines()
                   if line.startswith("{")]
        r = next(r for r in results if r["rank"] == 0)
        rates[ranks] = r["images_per_s"]
        print(f"{ranks:>6} {r['images_per_s']:>8.1f} {r['step_s']:>8.3f} "
              f"{100 * r['comm_share']:>19.1f}% {100 * r['comm_share_max']:>16.1f}%",
              flush=True)
    if len(rates) == 2:
        print(f"ratio 2 ranks / 1 rank: {rates[2] / rates[1]:.2f}x images per second")


# ----------------------------------------------------------------------- workers
def workers_search(folder: Path, args: argparse.Namespace, workers: int, executor: str,
                   supernet: str) -> Dict[str, float]:
    """One random search of ``args.candidates`` candidates into ``folder``; its
    figures and the journal lines without their wall times."""
    import nnabla_nas.builtins  # noqa: F401
    from nnabla_nas.config.loader import from_dict
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.dataset import DATASETS
    from nnabla_nas.runner.run import Run
    from nnabla_nas.runner.schema import SearchConfig
    from nnabla_nas.runner.searcher import SEARCHERS
    from nnabla_nas.utils.output import RunOutput

    space = SEARCH_SPACES.get("proxylessnas")
    options = dict(evaluations=args.candidates, evaluate=args.evaluate, bn_batches=2,
                   train_epochs=1)
    if args.evaluate == "supernet":
        options["supernet_path"] = supernet
    config = from_dict(SearchConfig, {
        "epochs": 1, "batch_size": 32, "workers": workers, "executor": executor,
        "space": {"name": space.name, **space.smoke_options},
        "searcher": {"name": "random", **options}}, "search")
    digits = DATASETS.get("digits")
    data = digits.load(digits.Config(), args.seed)
    model = space.build_search(config.space.options, data.shape, data.num_classes,
                               np.random.RandomState(args.seed))
    output = RunOutput(str(folder), {"bench": "workers"}, quiet=True)
    searcher = SEARCHERS.get("random")(Run(model=model, data=data, config=config,
                                           output=output, space=space, seed=args.seed,
                                           quiet=True))
    times: List[float] = []
    log_candidate = searcher.log_candidate
    searcher.log_candidate = lambda c: (times.append(time.perf_counter()),
                                        log_candidate(c))
    start = time.perf_counter()
    try:
        searcher.search()
    finally:
        output.close()
    wall = time.perf_counter() - start
    lines = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
             for line in (folder / "candidates.jsonl").read_text().splitlines()]
    steady = (len(times) - 1) / (times[-1] - times[0]) * 60 if len(times) > 1 else 0.0
    return {"wall_s": wall, "per_min": len(lines) / wall * 60, "steady_per_min": steady,
            "mean_s": float(np.mean([c.seconds for c in searcher.candidates])),
            "journal": lines}


def saved_supernet(folder: Path, seed: int) -> str:
    """The smoke space's supernet, initialized with ``seed``, saved as trainers do."""
    import nnabla_nas.builtins  # noqa: F401
    from nnabla_nas.contrib.spaces import SEARCH_SPACES
    from nnabla_nas.runner.supernet import write_supernet

    space = SEARCH_SPACES.get("proxylessnas")
    options = space.SearchConfig(**space.smoke_options)
    model = space.build_search(options, (1, 8, 8), 10, np.random.RandomState(seed))
    return write_supernet(model, str(folder / "supernet.h5"), space.name, options,
                          "spos", 1)


def workers_part(args: argparse.Namespace) -> None:
    print(f"workers: random search, proxylessnas smoke space, digits, batch 32, "
          f"{args.candidates} candidates, evaluate {args.evaluate}, seed {args.seed}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'executor':>9} {'workers':>8} {'wall s':>8} {'cand/min':>9} "
          f"{'steady cand/min':>16} {'mean cand s':>12} {'speed-up':>9}")
    base = Path(args.workdir) if args.workdir else None
    root = Path(tempfile.mkdtemp(prefix="bench-workers-", dir=base))
    reference = None
    try:
        supernet = saved_supernet(root, args.seed)
        for executor in args.executors:
            started = None
            if executor == "ray":
                import ray

                started = time.perf_counter()
                ray.init(include_dashboard=False, log_to_driver=False,
                         logging_level="warning")
                print(f"      ray: ray.init {time.perf_counter() - started:.1f} s, "
                      f"{ray.cluster_resources().get('CPU', 0):g} CPUs")
            try:
                one = None
                for n in args.workers:
                    r = workers_search(root / f"{executor}-{n}", args, n, executor,
                                       supernet)
                    if reference is None:
                        reference = r["journal"]
                    if r["journal"] != reference:
                        raise SystemExit(f"{executor} with {n} workers: the journal "
                                         "differs from the first search's")
                    one = one or r["steady_per_min"]
                    print(f"{executor:>9} {n:>8} {r['wall_s']:>8.1f} {r['per_min']:>9.1f} "
                          f"{r['steady_per_min']:>16.1f} {r['mean_s']:>12.2f} "
                          f"{r['steady_per_min'] / one:>9.2f}", flush=True)
            finally:
                if started is not None:
                    ray.shutdown()
        print(f"every search's journal equals the first's apart from wall times "
              f"(load average {os.getloadavg()[0]:.1f} at the end)")
    finally:
        shutil.rmtree(root)


#: The parts, by name, in the order they run. A new part is a function taking the
#: parsed arguments, added here (and its options to ``main``'s parser).
PARTS: Dict[str, Callable[[argparse.Namespace], None]] = {
    "image_folder": image_folder_part,
    "darts": darts_part,
    "workers": workers_part,
}
#: What ``--child NAME ARGS...`` runs in a fresh process; prints one JSON line.
CHILDREN: Dict[str, Callable[..., Dict[str, float]]] = {
    "image_folder": lambda root, seed: image_folder_child(root, int(seed)),
    "darts": lambda *a: darts_child(*(int(v) for v in a)),
}


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", nargs="+", choices=list(PARTS), default=list(PARTS),
                        help="what to measure (default: every part)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated "
                        "data and of the loaders")
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 20000],
                        help="image_folder: the counts of generated images")
    parser.add_argument("--workdir", default=None, help="image_folder, workers: where "
                        "files are written (a new folder inside it, deleted after)")
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="image_folder: also run another checkout's nnabla_nas")
    parser.add_argument("--darts-batch", type=int, default=32,
                        help="darts: the global batch (a multiple of 2)")
    parser.add_argument("--darts-steps", type=int, default=10,
                        help="darts: steps per epoch (one untimed epoch, one timed)")
    parser.add_argument("--darts-channels", type=int, default=8,
                        help="darts: init_channels of the supernet")
    parser.add_argument("--darts-side", type=int, default=32,
                        help="darts: height and width of the images")
    parser.add_argument("--candidates", type=int, default=24,
                        help="workers: candidates per search")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="workers: the counts of workers (the first is the "
                        "speed-up's base)")
    parser.add_argument("--executors", nargs="+", default=["local", "ray"],
                        choices=["local", "ray"], help="workers: the executors")
    parser.add_argument("--evaluate", default="supernet", choices=["supernet", "train"],
                        help="workers: how candidates are scored")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.images) < CLASSES * TEST_SHARE:
        parser.error(f"--images: at least {CLASSES * TEST_SHARE} images ({CLASSES} "
                     f"classes, 1 in {TEST_SHARE} of each in val/)")
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return
    for part in args.part:
        PARTS[part](args)


if __name__ == "__main__":
    main()
