"""Measured peak memory of NNabla graphs, to check :class:`MemoryEstimator` against.

The figure is the growth of the process's peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs`` just before) over its resident set before a pass, for a
*later* pass of the graph (the first one also sets functions up). It is meaningful
when released buffers leave the process at once: NNabla's plain ``CpuArray`` (not the
caching allocator) with glibc serving every allocation above 4 KiB by ``mmap``
(``MALLOC_MMAP_THRESHOLD_=4096``), which is how :func:`measure_nnp` runs it, in a
fresh process. Linux only (it reads ``/proc/self/status``).

Resolution: buffers under the 4 KiB threshold still come from the heap, where freed
space is reused without growing the resident set, and growth is counted in whole
pages. Networks whose activations at batch 1 total some tens of KiB (8x8 digits)
can therefore read as 0; from a few hundred KiB on, the figure is within the errors
``bench/memory_estimator.py`` reports.

Run as ``python -m nnabla_nas.contrib.estimator.peak_memory NETWORK.nnp`` it prints
the inference figure of an exported network as JSON.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from typing import Callable, Dict, Optional, Sequence

import numpy as np

#: Environment of the measuring process: every allocation above 4 KiB by mmap.
ENV = {"MALLOC_MMAP_THRESHOLD_": "4096"}


def supported() -> bool:
    """Whether this system exposes what the measurement reads (Linux ``/proc``)."""
    return os.path.exists("/proc/self/clear_refs") and os.path.exists("/proc/self/status")


def _status() -> Dict[str, int]:
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def peak_growth(run: Callable[[], None]) -> int:
    """Bytes by which the peak resident set during ``run()`` exceeds the resident set
    before it."""
    before = _status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    run()
    return _status()["VmHWM"] - before


def forward_order(outputs: Sequence) -> list:
    """Functions in the order NNabla's forward runs them: depth first from each
    output, every input's producer before its consumer."""
    order, closed = [], set()
    for out in outputs:
        top = out.parent
        if top is None or top in closed:
            continue
        closed.add(top)
        stack = [(top, iter(top.inputs))]
        while stack:
            f, inputs = stack[-1]
            for v in inputs:
                p = v.parent
                if p is not None and p not in closed:
                    closed.add(p)
                    stack.append((p, iter(p.inputs)))
                    break
            else:
                stack.pop()
                order.append(f)
    return order


def later_pass_growth(outputs: Sequence, run: Callable[[], None]) -> Dict[str, int]:
    """``first`` and ``steady`` (later) pass growth of ``run()``, which computes the
    graph of ``outputs``; between them every buffer of the graph is released."""
    import nnabla_ext.cpu

    gc.collect()
    first = peak_growth(run)
    for f in forward_order(list(outputs)):
        for v in f.outputs:
            v.data.clear()
            v.grad.clear()
    nnabla_ext.cpu.clear_memory_cache()
    gc.collect()
    return {"first": first, "steady": peak_growth(run)}


def nnp_network(nnp_path: str, batch: Optional[int] = None):
    """The input and output variables of the NNP's first network (at its own batch
    size, or ``batch``), the input filled with seeded standard normal values."""
    from nnabla.utils.nnp_graph import NnpLoader

    loader = NnpLoader(nnp_path)
    net = loader.get_network(loader.get_network_names()[0], batch_size=batch)
    x = list(net.inputs.values())[0]
    y = list(net.outputs.values())[0]
    x.d = np.random.RandomState(0).randn(*x.shape)
    return x, y


def _probe(nnp_path: str, batch: Optional[int] = None) -> Dict[str, int]:
    """In this (fresh) process: the inference pass of the NNP's network (at its own
    batch size, or ``batch``)."""
    import nnabla as nn

    nn.prefer_cached_array(False)
    x, y = nnp_network(nnp_path, batch)

    def run():
        y.forward(clear_buffer=True)

    return dict(later_pass_growth([y], run), batch=int(x.shape[0]))


def measure_nnp(nnp_path: str, timeout: float = 600, batch: Optional[int] = None
                ) -> Optional[Dict[str, int]]:
    """Peak memory growth of one inference pass of an exported network (at its own
    batch size, or ``batch``), measured in a fresh process after its imports and a
    first pass (see the module docstring); None where unsupported (not Linux)."""
    if not supported():
        return None
    env = dict(os.environ, **ENV)
    extra = [] if batch is None else [str(int(batch))]
    result = subprocess.run([sys.executable, "-m", __name__, nnp_path, *extra],
                            capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"measuring the peak memory of {nnp_path} failed: "
                           f"{result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(_probe(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)))
