"""How latency is measured: function keys, timing loops, the calibration fit, the
device fingerprint and the profile-table file format.

This file imports only the standard library, numpy and nnabla, because it is copied
as is into exported bundles (see :mod:`.bundle`) and run on devices where nnabla-nas
is not installed. Everything that measures time, here and on those devices, goes
through :func:`time_calls`, so a table made by a bundle and one made locally mean the
same thing.

Units: every time is in milliseconds (ms).
"""
from __future__ import annotations

import gc
import hashlib
import itertools
import json
import os
import platform
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import nnabla as nn
import nnabla.function as _function
import numpy as np

#: Identifies profile-table files, and the version of their layout.
TABLE_FORMAT = "nnabla-nas-profile-table"
TABLE_VERSION = 2  # 2: two calibration terms (a, b)
#: The robust statistics a timing can be summarized with. Other processes only ever
#: add time, and on a shared machine they can slow everything for minutes, so the
#: lower ones (``lower_quartile``, ``min``) reproduce best there; on an idle device
#: they all agree within a few percent.
STATISTICS = ("median", "trimmed_mean", "lower_quartile", "min")
#: The default: an earlier protocol of bench/estimators.py (functions and networks timed
#: in the same passes, 64x64 inputs) on a shared 2-core Xeon met the accuracy target
#: with it (30/30 networks within 10%, Kendall tau 0.96) and not with the median
#: (73%, 0.93), whose own repeat measurements disagree at tau 0.87.
DEFAULT_STATISTIC = "lower_quartile"


# ------------------------------------------------------------------ function keys
def _canonical(value: Any) -> Any:
    """A JSON-ready copy of a function argument, with floats rounded to the float32
    precision NNabla keeps (so ``0.9`` given in Python and ``0.8999999761`` read back
    from C++ give the same key)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(f"{float(np.float32(value)):.7g}")
    if isinstance(value, str):
        return value
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise TypeError(f"function argument of type {type(value).__name__} ({value!r}) "
                    "cannot be part of a profile key")


def _dtype_of(variable: "nn.Variable") -> str:
    try:
        return np.dtype(variable.data.dtype).name
    except RuntimeError:  # not allocated yet: NNabla computes in float32 by default
        return "float32"


class FunctionSpec:
    """One NNabla function call: type name, arguments and input shapes and dtypes.

    :attr:`key` is its canonical string, the key of profile tables; the spec can be
    rebuilt from it with :meth:`from_key`.
    """

    __slots__ = ("type_name", "args", "inputs", "key")

    def __init__(self, type_name: str, args: Dict[str, Any],
                 inputs: Sequence[Tuple[Sequence[int], str]]):
        self.type_name = str(type_name)
        self.args = {str(k): _canonical(v) for k, v in sorted(args.items())}
        self.inputs = [(tuple(int(d) for d in shape), np.dtype(dtype).name)
                       for shape, dtype in inputs]
        self.key = json.dumps(
            [self.type_name, self.args, [[list(s), d] for s, d in self.inputs]],
            sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_function(cls, f) -> "FunctionSpec":
        """The spec of a function node of an NNabla graph."""
        try:
            return cls(f.info.type_name, f.info.args,
                       [(v.shape, _dtype_of(v)) for v in f.inputs])
        except TypeError as e:
            raise TypeError(f"{f.info.type_name}: {e}") from None

    @classmethod
    def from_key(cls, key: str) -> "FunctionSpec":
        """The spec whose :attr:`key` is ``key``.

        Raises:
            ValueError: if ``key`` is not a function key.
        """
        try:
            type_name, args, inputs = json.loads(key)
            return cls(type_name, args, [(s, d) for s, d in inputs])
        except (ValueError, TypeError) as e:
            raise ValueError(f"not a function key: {key!r} ({e})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunctionSpec) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        shapes = ", ".join("x".join(map(str, s)) or "scalar" for s, _ in self.inputs)
        return f"{self.type_name}({shapes})"


#: Inputs that must be positive (variances, arguments of logs and roots); the other
#: float inputs are standard normal.
POSITIVE_INPUTS = {"BatchNormalization": (4,), "FusedBatchNormalization": (4,),
                   "Log": (0,), "Sqrt": (0,), "RSqrt": (0,), "PowScalar": (0,)}


#: Inputs of a function that are parameters in a network (weights, biases, batch
#: statistics), by function type; the other inputs are activations. Runtimes that
#: treat constants differently (ONNX Runtime pre-packs constant weights and folds
#: batch normalization) are profiled with these inputs as constants.
PARAMETER_INPUTS = {"Convolution": (1, 2), "DepthwiseConvolution": (1, 2),
                    "Deconvolution": (1, 2), "DepthwiseDeconvolution": (1, 2),
                    "Affine": (1, 2), "BatchNormalization": (1, 2, 3, 4),
                    "FusedBatchNormalization": (1, 2, 3, 4), "PReLU": (1,)}


def random_inputs(spec: FunctionSpec, rng: np.random.RandomState) -> List[np.ndarray]:
    """Inputs for the micro-benchmark of ``spec``, distributed like activations.

    The distribution matters: some CPU kernels branch on the sign of each element
    (NNabla's ReLU6 runs about six times slower on mixed-sign data than on positive
    data, from branch mispredictions), so float inputs are standard normal, as
    activations and weights are, except those in :data:`POSITIVE_INPUTS`
    (uniform in [0.5, 1.5)). Integer inputs are zeros.
    """
    positive = POSITIVE_INPUTS.get(spec.type_name, ())
    arrays = []
    for i, (shape, dtype) in enumerate(spec.inputs):
        if not np.issubdtype(np.dtype(dtype), np.floating):
            arrays.append(np.zeros(shape, dtype=dtype))
        elif i in positive:
            arrays.append(rng.uniform(0.5, 1.5, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(size=shape).astype(dtype))
    return arrays


def build_function(spec: FunctionSpec, ctx, rng: Optional[np.random.RandomState] = None):
    """The function of ``spec`` alone, on new random inputs, in context ``ctx``.

    Returns:
        ``(inputs, outputs)``: lists of ``nn.Variable``.

    Raises:
        ValueError: naming the spec if NNabla cannot create that function.
    """
    rng = np.random.RandomState(0) if rng is None else rng
    inputs = [nn.Variable.from_numpy_array(a, need_grad=False)
              for a in random_inputs(spec, rng)]
    try:
        function = getattr(_function, spec.type_name)(ctx, **spec.args)
        with nn.auto_forward(False):
            outputs = function(*inputs)
    except (AttributeError, TypeError, RuntimeError) as e:
        raise ValueError(f"cannot build {spec!r} for profiling: "
                         f"{type(e).__name__}: {e}") from None
    return inputs, list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


# ------------------------------------------------------------------------ timing
def summarize(samples_ms: Sequence[float], statistic: str = DEFAULT_STATISTIC) -> float:
    """The robust summary of timing samples: ``median``, ``trimmed_mean`` (mean of the
    middle half), ``lower_quartile`` (25th percentile) or ``min``."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        raise ValueError("no timing samples")
    if statistic == "median":
        return float(np.median(x))
    if statistic == "trimmed_mean":
        q = x.size // 4
        return float(x[q:x.size - q].mean())
    if statistic == "lower_quartile":
        return float(np.percentile(x, 25))
    if statistic == "min":
        return float(x[0])
    raise ValueError(f"statistic: expected one of {list(STATISTICS)}, got {statistic!r}")


def competing_load() -> Optional[str]:
    """``'load average L on N CPUs'`` when other processes compete for this machine's
    CPUs (the one-minute load average, which counts this process too, above the
    number of logical CPUs), else None. Times taken then include other processes'
    share of the CPU: too high for the device alone."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this system
        return None
    cpus = os.cpu_count() or 1
    return f"load average {load:.2f} on {cpus} CPUs" if load > cpus else None


def time_calls(run: Callable[[], Any], warmup: int, repeats: int,
               synchronize: Callable[[], Any] = lambda: None,
               min_sample_ms: float = 1.0, seconds: float = 0.0) -> List[float]:
    """Milliseconds per call of ``run``: ``repeats`` samples after ``warmup`` calls,
    and more until the samples span ``seconds`` (a timing window: on a shared
    machine the speed of a CPU drifts over tenths of seconds, so that the samples
    of one short burst can all fall in a slow phase; spread over a window, a robust
    statistic of them does not depend on when the burst happened).

    Calls faster than ``min_sample_ms`` are timed in groups long enough for the
    clock (each sample is then the group's mean). The device is synchronized before
    a sample ends, and Python's garbage collector is paused while timing.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(1, warmup)):
            run()
        synchronize()
        start = time.perf_counter()
        run()
        synchronize()
        once_ms = (time.perf_counter() - start) * 1e3
        inner = max(1, int(min_sample_ms / max(once_ms, 1e-4)))
        samples: List[float] = []
        first = time.perf_counter()
        while len(samples) < max(1, repeats) or time.perf_counter() - first < seconds:
            start = time.perf_counter()
            for _ in range(inner):
                run()
            synchronize()
            samples.append((time.perf_counter() - start) * 1e3 / inner)
        return samples
    finally:
        if gc_was_enabled:
            gc.enable()


def time_round_robin(runs: Sequence[Callable[[], Any]], warmup: int, repeats: int,
                     rounds: int, synchronize: Callable[[], Any] = lambda: None,
                     min_sample_ms: float = 1.0) -> List[List[float]]:
    """:func:`time_calls` for several workloads at once: ``rounds`` passes over all of
    them, each taking ``repeats / rounds`` samples (at least one) after ``warmup``
    calls. A burst of load from other processes then touches a few samples of every
    workload instead of all samples of a few, which a robust statistic absorbs."""
    samples: List[List[float]] = [[] for _ in runs]
    rounds = max(1, min(rounds, repeats))
    per_round = [repeats // rounds + (r < repeats % rounds) for r in range(rounds)]
    for count in per_round:
        for i, run in enumerate(runs):
            samples[i].extend(time_calls(run, warmup, count, synchronize, min_sample_ms))
    return samples


def forward_runner(outputs: Sequence["nn.Variable"]) -> Callable[[], None]:
    """One inference forward of the graph ending at ``outputs``, as a network runs it
    in deployment: ``forward(clear_no_need_grad=True)``."""
    outputs = list(outputs)
    if len(outputs) == 1:
        out = outputs[0]
        return lambda: out.forward(clear_no_need_grad=True)
    sink = nn.sink(*outputs)
    return lambda: sink.forward(clear_no_need_grad=True)


# ------------------------------------------------------------------- calibration
#: The calibration model, one coefficient per term (ms): ``t_net = sum over the
#: functions f of (a * t_f + b)``, where ``t_f`` is the isolated time of f: ``a``
#: scales isolated times to their cost inside a network, ``b`` is the framework's work
#: per function (what dominates small inputs). It is a sum over functions, without a
#: per-network constant, so that a network's estimate is the sum of its parts'
#: (expected costs over MixedOps rely on that). Both terms are increasing in what the
#: raw sums rank by, or nearly so; a third, per input megabyte of each function, was
#: dropped (table version 2) because on development networks it lowered Kendall tau
#: every time it was fitted (0.977 -> 0.922, 0.977 -> 0.936 on an AMD EPYC; 0.949 ->
#: 0.908, 0.936 -> 0.908 on an Intel Xeon; docs/benchmarks.md).
CALIBRATION_TERMS = ("a", "b")


def calibration_features(specs: Sequence[FunctionSpec], times_ms: Sequence[float]
                         ) -> List[float]:
    """The sums the calibration terms multiply, for functions ``specs`` that take
    ``times_ms`` in isolation: ``[sum(t_f), n_functions]``."""
    return [float(sum(times_ms)), float(len(specs))]


def calibration_key(calibration: Dict[str, Any]) -> Tuple[float, ...]:
    """The coefficients of a calibration, as a hashable key."""
    return tuple(float(calibration.get(k, 0.0)) for k in CALIBRATION_TERMS)


def calibration_summary(calibration: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A calibration's coefficients and fit, ready to print (``{}`` if None)."""
    if not calibration:
        return {}
    return {k: float(f"{calibration[k]:.6g}") if isinstance(calibration[k], float)
            else calibration[k] for k in calibration}


def fit_support(features: np.ndarray, measured_ms: np.ndarray, support: Sequence[int]
                ) -> Optional[np.ndarray]:
    """The coefficients (one per column of ``features``, zero outside ``support``)
    minimizing the squared relative error of ``features @ coefficients`` against
    ``measured_ms``, or None if one of them is negative."""
    X = features / measured_ms[:, None]
    cols = list(support)
    coef, *_ = np.linalg.lstsq(X[:, cols], np.ones_like(measured_ms), rcond=None)
    if np.any(coef < 0):
        return None
    full = np.zeros(features.shape[1])
    full[cols] = coef
    return full


def fit_calibration(features: Sequence[Sequence[float]], measured_ms: Sequence[float]
                    ) -> Dict[str, float]:
    """Fit ``measured ≈ features @ coefficients`` (one row of
    :func:`calibration_features` per network) with non-negative coefficients,
    minimizing the squared *relative* error (the accuracy target is a relative one).
    Solved exactly by trying every support of the coefficients (non-negative least
    squares is the best feasible least-squares fit on some support).

    Returns:
        ``{'a': .., 'b': .., 'networks': n, 'rms_relative_error': ..}``
    """
    t = np.asarray(measured_ms, dtype=np.float64)
    try:
        F = np.asarray(features, dtype=np.float64).reshape(t.size, len(CALIBRATION_TERMS))
    except ValueError:
        raise ValueError(f"fit_calibration: expected one row of "
                         f"{len(CALIBRATION_TERMS)} features per measured time") from None
    if t.ndim != 1 or t.size == 0:
        raise ValueError("fit_calibration: expected a non-empty list of measured times")
    if np.any(t <= 0) or np.any(F < 0) or not np.all(np.isfinite(F)):
        raise ValueError("fit_calibration: expected positive measured times and "
                         "non-negative features")
    best, best_err = np.zeros(F.shape[1]), float(t.size)  # all zero: error 1 each
    for k in range(1, F.shape[1] + 1):
        for support in itertools.combinations(range(F.shape[1]), k):
            full = fit_support(F, t, support)
            if full is None:
                continue
            err = float(np.sum((F @ full / t - 1) ** 2))
            if err < best_err - 1e-15:
                best, best_err = full, err
    result = {name: float(v) for name, v in zip(CALIBRATION_TERMS, best)}
    result["networks"] = int(t.size)
    result["rms_relative_error"] = float(np.sqrt(best_err / t.size))
    return result


def apply_calibration(calibration: Optional[Dict[str, float]],
                      specs: Sequence[FunctionSpec], times_ms: Sequence[float]) -> float:
    """The calibrated time of functions ``specs`` that take ``times_ms`` in isolation
    (without calibration: the plain sum)."""
    if not calibration:
        return float(sum(times_ms))
    features = calibration_features(specs, times_ms)
    return float(sum(calibration.get(k, 0.0) * f
                     for k, f in zip(CALIBRATION_TERMS, features)))


# ---------------------------------------------------------------- the device
def _processor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def _gpu(device_id: int) -> str:
    """The GPU model as the NVIDIA driver reports it in /proc (no CUDA import)."""
    root = "/proc/driver/nvidia/gpus"
    try:
        boards = sorted(os.listdir(root))
        with open(os.path.join(root, boards[device_id], "information"),
                  encoding="utf-8") as f:
            for line in f:
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    return f"GPU {device_id} (model unknown)"


def device_fingerprint(context: str = "cpu", device_id: int = 0,
                       type_config: str = "float") -> Dict[str, str]:
    """What a profile table's numbers depend on: context, processor or GPU model,
    machine type and NNabla version."""
    return {
        "context": f"{context}:{type_config}",
        "device": _gpu(device_id) if context == "cudnn" else _processor(),
        "machine": platform.machine(),
        "nnabla": str(nn.__version__),
    }


def describe_fingerprint(fingerprint: Dict[str, str]) -> str:
    """A one-line description, e.g. ``cpu:float / Intel Xeon / x86_64 / nnabla 1.39.0``
    (ONNX Runtime's: ``... / onnxruntime 1.23.2 / threads 2``)."""
    versions = ("onnxruntime", "threads") if "onnxruntime" in fingerprint \
        else ("nnabla",)
    return " / ".join([str(fingerprint.get(k, "?")) for k in ("context", "device",
                                                              "machine")]
                      + [f"{k} {fingerprint.get(k, '?')}" for k in versions])


# ------------------------------------------------------------- table file format
def checksum(fingerprint: Dict[str, str], calibration: Optional[Dict[str, Any]],
             entries: Dict[str, Dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of a table's content."""
    canonical = json.dumps({"fingerprint": fingerprint, "calibration": calibration,
                            "entries": entries}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def table_text(fingerprint: Dict[str, str], calibration: Optional[Dict[str, Any]],
               entries: Dict[str, Dict[str, Any]], statistic: str) -> str:
    """The JSON text of a profile table (header, entries sorted by key, checksum)."""
    entries = {k: entries[k] for k in sorted(entries)}
    data = {"format": TABLE_FORMAT, "version": TABLE_VERSION, "statistic": statistic,
            "units": "ms", "fingerprint": fingerprint, "calibration": calibration,
            "checksum": checksum(fingerprint, calibration, entries), "entries": entries}
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def write_text_atomically(path: str, text: str) -> None:
    """Write through a temporary file in the same folder and a rename: the package's
    one helper (:func:`nnabla_nas.utils.files.atomic_write_text`), or, in a bundle
    where this file runs alone, an exclusive temporary file of its own."""
    try:
        from ...utils.files import atomic_write_text
    except ImportError:  # copied into a bundle: no package around this file
        pass
    else:
        return atomic_write_text(path, text)
    tmp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        with open(tmp, "x", encoding="utf-8") as f:  # exclusive: never through a link
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
