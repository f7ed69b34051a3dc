"""Timing the files a run delivers, as a user runs them: the exported NNP through
NNabla, in a fresh process (only NNabla and the file, nothing of the run that made
it), and the ONNX file through ONNX Runtime (:mod:`.onnx_runtime`).

Both use the statistic, sample counts and timing window given, as
:meth:`~.latency.LatencyEstimator.report` does for the network in memory, so the
three figures compare. CPU only: the NNP is run in NNabla's CPU context.

Run as ``python -m nnabla_nas.contrib.estimator.delivered NETWORK.nnp WARMUP REPEATS
STATISTIC [SECONDS]`` it prints the milliseconds per inference at batch 1 as JSON.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Optional

from . import measure
from .peak_memory import nnp_network


def _time_here(nnp_path: str, warmup: int, repeats: int, statistic: str,
               seconds: float = 0.0) -> float:
    """In this (fresh) process: ms per inference of the NNP's first network."""
    _, y = nnp_network(nnp_path, batch=1)
    samples = measure.time_calls(measure.forward_runner([y]), warmup, repeats,
                                 seconds=seconds)
    return measure.summarize(samples, statistic)


def time_nnp(nnp_path: str, warmup: int, repeats: int,
             statistic: str = measure.DEFAULT_STATISTIC, timeout: float = 600,
             seconds: float = 0.0) -> float:
    """ms per inference at batch 1 of the exported network ``nnp_path``, run by
    NNabla's CPU context in a fresh process: ``repeats`` timed forwards after
    ``warmup`` ones, and more until they span ``seconds``, summarized by
    ``statistic``.

    Raises:
        RuntimeError: with the last line of the process's error output.
    """
    result = subprocess.run([sys.executable, "-m", __name__, nnp_path, str(warmup),
                             str(repeats), statistic, str(float(seconds))],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"timing {nnp_path} failed: "
                           f"{result.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(result.stdout.strip().splitlines()[-1]))


def time_onnx(onnx_path: str, warmup: int, repeats: int,
              statistic: str = measure.DEFAULT_STATISTIC, seconds: float = 0.0
              ) -> Optional[float]:
    """ms per inference of the ONNX file through ONNX Runtime on this CPU, timed as
    :func:`time_nnp` times the NNP; None when onnxruntime is not installed."""
    from .onnx_runtime import OnnxRuntimeNotInstalledError, time_onnx_file

    try:
        return time_onnx_file(onnx_path, warmup=warmup, repeats=repeats,
                              statistic=statistic, seconds=seconds)
    except OnnxRuntimeNotInstalledError:
        return None


if __name__ == "__main__":
    print(json.dumps(_time_here(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                sys.argv[4], *(float(a) for a in sys.argv[5:6]))))
