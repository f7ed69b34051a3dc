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

Reproduce with::

    make venv && .venv/bin/python bench/distributed.py --part image_folder \\
        --images 2000 20000 [--baseline DIR] [--seed 0]

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


#: The parts, by name, in the order they run. A new part is a function taking the
#: parsed arguments, added here (and its options to ``main``'s parser).
PARTS: Dict[str, Callable[[argparse.Namespace], None]] = {
    "image_folder": image_folder_part,
}
#: What ``--child NAME ARGS...`` runs in a fresh process; prints one JSON line.
CHILDREN: Dict[str, Callable[..., Dict[str, float]]] = {
    "image_folder": lambda root, seed: image_folder_child(root, int(seed)),
}


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", nargs="+", choices=list(PARTS), default=list(PARTS),
                        help="what to measure (default: every part)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated "
                        "data and of the loaders")
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 20000],
                        help="image_folder: the counts of generated images")
    parser.add_argument("--workdir", default=None, help="image_folder: where the "
                        "images are written (a new folder inside it, deleted after)")
    parser.add_argument("--baseline", metavar="DIR", default=None,
                        help="image_folder: also run another checkout's nnabla_nas")
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
