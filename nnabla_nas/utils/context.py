"""Device choice: the one place that may load NNabla's CUDA extension.

A device is named by the config's ``context``: one of NNabla's contexts (``cpu``,
``cudnn``), or ``onnxruntime-cpu``, which trains and runs the network on NNabla's CPU
context and profiles latency through ONNX Runtime on the CPU (the runtime a user may
deploy with).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any

import nnabla as nn
from nnabla.ext_utils import get_extension_context

CONTEXTS = ("cpu", "cudnn")
#: Every device a run can name, with the NNabla context it computes on and the
#: runtime its latency is profiled and measured with.
DEVICES = {"cpu": ("cpu", "nnabla"), "cudnn": ("cudnn", "nnabla"),
           "onnxruntime-cpu": ("cpu", "onnxruntime")}


class DeviceError(RuntimeError):
    """The requested device cannot be used here."""


def make_context(name: str = "cpu", device_id: int = 0, type_config: str = "float"):
    """An NNabla context for ``'cpu'`` or ``'cudnn'`` (GPU ``device_id``).

    The CUDA extension is imported only for ``'cudnn'``; if it is missing the error says
    which package to install.
    """
    if name not in CONTEXTS:
        raise ValueError(f"context: expected one of {list(CONTEXTS)}, got {name!r}")
    if name == "cudnn":
        try:
            importlib.import_module("nnabla_ext.cudnn")
        except ImportError as e:
            raise DeviceError(
                "context: cudnn needs NNabla's CUDA extension, which is not installed "
                f"({e}); install the one matching your CUDA and cuDNN, e.g. "
                "`pip install nnabla-ext-cuda116`, or use context: cpu") from None
        return get_extension_context("cudnn", device_id=str(device_id),
                                     type_config=type_config)
    return get_extension_context("cpu", type_config=type_config)


@dataclass(frozen=True)
class Device:
    """The device a run computes, profiles and measures on: built once per run (from
    the config's ``context`` and ``device_id``) and handed to whatever needs it.

    Args:
        name: ``'cpu'``, ``'cudnn'`` or ``'onnxruntime-cpu'`` (NNabla's CPU context
            for training and the network, ONNX Runtime for latency; see
            :data:`DEVICES`).
        device_id: The GPU of ``'cudnn'``.
        table: The profile table latency estimates default to: a path (this device's
            table, reused and extended), a table imported from another device, or
            None (this device's persistent table in the user's cache folder, see
            :func:`nnabla_nas.utils.cache.cache_folder`).
        comm: The communicator of a data-parallel job
            (:func:`nnabla_nas.utils.communicator.make_communicator`), or None for one
            process: latency estimators made for this device then profile on rank 0
            only and share the timings, so every rank prices alike.

    Attributes:
        context: The NNabla context (:func:`make_context`).

    Raises:
        ValueError: for an unknown name (naming the ``context`` key and the closest
            device); :class:`DeviceError` when the CUDA extension or ONNX Runtime is
            missing.
    """

    name: str = "cpu"
    device_id: int = 0
    table: Any = None
    comm: Any = field(default=None, repr=False, compare=False)
    context: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.name not in DEVICES:
            close = difflib.get_close_matches(str(self.name), list(DEVICES), n=1)
            raise ValueError(f"context: expected one of {list(DEVICES)}, got "
                             f"{self.name!r}"
                             + (f"; did you mean {close[0]!r}?" if close else ""))
        if self.runtime == "onnxruntime" and importlib.util.find_spec(
                "onnxruntime") is None:
            raise DeviceError(f"context: {self.name} profiles latency with ONNX "
                              "Runtime, which is not installed; install it with "
                              "`pip install onnxruntime`, or use context: cpu")
        object.__setattr__(self, "context", make_context(DEVICES[self.name][0],
                                                         self.device_id))

    @property
    def runtime(self) -> str:
        """``'nnabla'``, or ``'onnxruntime'`` for ``onnxruntime-cpu``: the runtime
        latency is profiled and measured with."""
        return DEVICES[self.name][1]

    def synchronize(self) -> None:
        """Wait until the device has finished its queued work (see :func:`synchronize`).
        """
        synchronize(self.context)


class use_context:
    """Scoped default context: ``with use_context(ctx): ...`` restores the previous one.
    """

    def __init__(self, ctx):
        self._ctx = ctx
        self._previous = None

    def __enter__(self):
        self._previous = nn.get_current_context()
        nn.set_default_context(self._ctx)
        return self._ctx

    def __exit__(self, *exc):
        nn.set_default_context(self._previous)
        return False


def synchronize(ctx) -> None:
    """Wait until the device of ``ctx`` has finished its queued work, so that a timer
    read afterwards measures it. A no-op for CPU contexts.

    The CUDA extension is imported here, lazily, only for CUDA contexts.
    """
    if not any(b.startswith(("cuda", "cudnn")) for b in ctx.backend):
        return
    cuda = importlib.import_module("nnabla_ext.cuda")
    cuda.device_synchronize(str(ctx.device_id))
