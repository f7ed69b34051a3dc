"""Timing ONNX models through ONNX Runtime, with the statistics of :mod:`.measure`.

``onnxruntime`` is optional: it is imported on first use, and its absence is one
:class:`OnnxRuntimeNotInstalledError` naming the package to install.

Threads are matched to NNabla's: NNabla's CPU kernels run on OpenMP, which uses
``OMP_NUM_THREADS`` threads, or one per core this process may run on when it is
unset; :func:`nnabla_threads` computes that number, and it is the default
``threads`` of every session made here (``intra_op_num_threads``, with one
inter-op thread and sequential execution, as NNabla runs a graph). Comparisons of
the two runtimes therefore give both the same cores.

Like :mod:`.measure`, this file imports only the standard library, numpy and (lazily)
onnxruntime, because it is copied into latency bundles for ONNX Runtime (see
:mod:`.bundle`) and run where nnabla-nas is not installed.

Units: milliseconds (ms).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

try:  # inside the nnabla_nas package
    from . import measure
except ImportError:  # copied into a bundle folder, next to nnabla_nas_measure.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import nnabla_nas_measure as measure  # type: ignore

#: ONNX element types of model inputs, as numpy dtypes.
_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
               "tensor(float16)": np.float16, "tensor(int64)": np.int64,
               "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


#: The least share of its raw session time a function keeps once the session call's
#: own cost is subtracted (:func:`time_functions`). Every function costs something
#: inside a network; a net time at or below zero only says that the function is
#: cheaper than the noise of the two measurements (the call's cost is about 10 us
#: here, a tiny function's a few), so its raw time scaled down stands for it instead
#: of a zero that would make a network of tiny functions free.
NET_TIME_FLOOR = 0.1


class OnnxRuntimeNotInstalledError(ImportError):
    """The optional ``onnxruntime`` package is missing."""


def onnxruntime():
    """The ``onnxruntime`` module, imported on first use.

    Raises:
        OnnxRuntimeNotInstalledError: if it is not installed (the message says how to
            install it).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise OnnxRuntimeNotInstalledError(
            f"ONNX Runtime is not installed ({e}); install it with: "
            "pip install onnxruntime") from None
    return ort


def onnxruntime_version() -> str:
    """The installed ONNX Runtime's version, e.g. ``'1.23.2'``."""
    return str(onnxruntime().__version__)


def nnabla_threads() -> int:
    """The number of threads NNabla's CPU kernels use: ``OMP_NUM_THREADS`` when it is
    a positive integer, else the cores this process may run on."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip().split(",")[0]
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: The device name of ONNX Runtime on the CPU, as configs and fingerprints give it.
DEVICE = "onnxruntime-cpu"


def fingerprint(threads: Optional[int] = None, type_config: str = "float"
                ) -> Dict[str, str]:
    """What ONNX Runtime timings on this CPU depend on: the device name, processor,
    machine type, ONNX Runtime's version and the intra-op threads (default
    :func:`nnabla_threads`)."""
    base = measure.device_fingerprint("cpu", 0, type_config)
    return {"context": f"{DEVICE}:{type_config}", "device": base["device"],
            "machine": base["machine"], "onnxruntime": onnxruntime_version(),
            "threads": str(nnabla_threads() if threads is None else int(threads))}


def make_session(model: Union[str, bytes, "os.PathLike[str]"],
                 threads: Optional[int] = None):
    """An ONNX Runtime CPU session for ``model`` (a file path or serialized bytes),
    with ``threads`` intra-op threads (default :func:`nnabla_threads`), one inter-op
    thread, sequential execution and all graph optimizations (as deployed).

    Raises:
        OnnxRuntimeNotInstalledError: if onnxruntime is missing.
        ValueError: for ``threads`` below 1.
    """
    ort = onnxruntime()
    threads = nnabla_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive integer, got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no warnings on stderr per session
    if not isinstance(model, bytes):
        model = os.fspath(model)
    return ort.InferenceSession(model, sess_options=options,
                                providers=["CPUExecutionProvider"])


def session_inputs(session, shapes: Optional[Dict[str, Sequence[int]]] = None,
                   rng: Optional[np.random.RandomState] = None,
                   positive: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Random inputs for every input of ``session``: standard normal floats (uniform
    in [0.5, 1.5) for the names in ``positive``), zeros for the other types.

    Args:
        shapes: Shapes by input name, required for inputs whose shape in the model is
            not fixed.

    Raises:
        ValueError: naming an input whose shape is not fixed and not given.
    """
    rng = np.random.RandomState(0) if rng is None else rng
    shapes = dict(shapes or {})
    feeds = {}
    for arg in session.get_inputs():
        shape = shapes.get(arg.name, arg.shape)
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"input {arg.name!r} has no fixed shape ({arg.shape}); "
                             "give its shape")
        dtype = _ONNX_TYPES.get(arg.type)
        if dtype is None:
            raise ValueError(f"input {arg.name!r}: unsupported type {arg.type}")
        if not np.issubdtype(dtype, np.floating):
            feeds[arg.name] = np.zeros(shape, dtype=dtype)
        elif arg.name in positive:
            feeds[arg.name] = rng.uniform(0.5, 1.5, size=shape).astype(dtype)
        else:
            feeds[arg.name] = rng.standard_normal(size=shape).astype(dtype)
    return feeds


def function_feeds(session, spec: "measure.FunctionSpec",
                   rng: Optional[np.random.RandomState] = None) -> Dict[str, np.ndarray]:
    """Random inputs for the session of the function ``spec`` alone, converted with
    its parameters as constants (:data:`.measure.PARAMETER_INPUTS`) and its other
    inputs as the session's inputs, in order: distributed as
    :func:`.measure.random_inputs` makes them for NNabla."""
    constant = measure.PARAMETER_INPUTS.get(spec.type_name, ())
    data = [i for i in range(len(spec.inputs)) if i not in constant]
    names = [arg.name for arg in session.get_inputs()]
    if len(names) != len(data):
        raise ValueError(f"{spec!r}: the session has {len(names)} inputs, the function "
                         f"{len(data)} besides its parameters")
    positive = [name for name, i in zip(names, data)
                if i in measure.POSITIVE_INPUTS.get(spec.type_name, ())]
    return session_inputs(session, rng=rng, positive=positive)


def session_runner(session, feeds: Dict[str, np.ndarray]) -> Callable[[], Any]:
    """One inference of ``session`` on ``feeds`` (all outputs computed)."""
    outputs = [o.name for o in session.get_outputs()]
    run = session.run
    return lambda: run(outputs, feeds)


def time_functions(runs: Sequence[Callable[[], Any]], overhead: Callable[[], Any],
                   warmup: int, repeats: int, rounds: int, statistic: str
                   ) -> List[float]:
    """The times (ms) of function sessions ``runs``, net of the cost of a session call
    itself (Python to C++, inputs and outputs; about 10 us here), which a function
    inside a network does not pay: ``overhead``, the session of one ``Identity`` on
    one number, is timed in the same round-robin passes
    (:func:`.measure.time_round_robin`) and its time subtracted, down to
    :data:`NET_TIME_FLOOR` of the function's raw time."""
    samples = measure.time_round_robin([overhead] + list(runs), warmup, repeats, rounds)
    ms = [measure.summarize(s, statistic) for s in samples]
    return [max(NET_TIME_FLOOR * t, t - ms[0]) for t in ms[1:]]


def _shapes(session, input_shape) -> Optional[Dict[str, Sequence[int]]]:
    if input_shape is None or isinstance(input_shape, dict):
        return input_shape
    names = [arg.name for arg in session.get_inputs()]
    if len(names) != 1:
        raise ValueError(f"input_shape: the model has {len(names)} inputs {names}; "
                         "give a dict of shapes by input name")
    return {names[0]: tuple(int(d) for d in input_shape)}


def time_onnx_file(path: Union[str, bytes, "os.PathLike[str]"],
                   input_shape: Union[None, Sequence[int],
                                      Dict[str, Sequence[int]]] = None,
                   warmup: int = 10, repeats: int = 100,
                   statistic: str = measure.DEFAULT_STATISTIC,
                   threads: Optional[int] = None, seconds: float = 0.0) -> float:
    """Milliseconds per inference of the ONNX model ``path`` through ONNX Runtime on
    this CPU: ``repeats`` samples after ``warmup`` runs (:func:`.measure.time_calls`),
    summarized by ``statistic`` (one of :data:`.measure.STATISTICS`).

    Args:
        path: An ONNX file, or a serialized model.
        input_shape: The input's shape (or shapes by input name); default: the
            model's own (fixed) shapes. Inputs are standard normal.
        threads: Intra-op threads (default :func:`nnabla_threads`, as NNabla uses).
        seconds: More samples until they span this long (a timing window).

    Raises:
        OnnxRuntimeNotInstalledError: if onnxruntime is missing.
        ValueError: for an unknown statistic or an input without a fixed shape.
    """
    if statistic not in measure.STATISTICS:
        raise ValueError(f"statistic: expected one of {list(measure.STATISTICS)}, "
                         f"got {statistic!r}")
    session = make_session(path, threads)
    run = session_runner(session, session_inputs(session, _shapes(session, input_shape)))
    return measure.summarize(measure.time_calls(run, warmup, repeats, seconds=seconds),
                             statistic)
