"""Crash-safe checkpoints: parameters, optimizer states and run state, with checksums.

A checkpoint is a folder ``<root>/<tag>/`` holding ``params.npz``, one ``<name>.opt.npz``
per optimizer (named arrays: NumPy's ``.npz``, which writes hundreds of parameters in
milliseconds where HDF5 takes most of a second), ``state.json`` and ``manifest.json``
(the SHA-256 of the others). Checkpoints of earlier versions (``params.h5`` and
``<name>.opt.h5``, NNabla's formats) still load. It is
written under a temporary name and renamed into place, and ``<root>/latest`` names the
newest one, so a crash at any moment leaves the previous checkpoint intact. Loading
verifies the checksums; a damaged checkpoint is reported and the previous one is used.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from typing import Any, Dict, List, Mapping, Optional

import nnabla as nn
import numpy as np

from ..module.module import copy_parameters, read_parameter_file
from ..utils.files import atomic_path, atomic_write_text, file_sha256

KEEP = 2
PARAMS = "params.npz"
OLD_PARAMS = "params.h5"  # checkpoints written before params.npz


class CheckpointError(RuntimeError):
    """No usable checkpoint could be read."""


def write_arrays(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as an uncompressed ``.npz`` that ``numpy.load`` reads (any
    names, including ones ``numpy.savez`` reserves, such as ``file``)."""
    with zipfile.ZipFile(path, "w", allowZip64=True) as z:
        for name, array in arrays.items():
            with z.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)


def read_arrays(path: str) -> "Dict[str, np.ndarray]":
    """The named arrays of an ``.npz`` file, in their order (never unpickling)."""
    with np.load(path, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def encode(value: Any) -> Any:
    """JSON-safe form of run state: numpy arrays and scalars, tuples, nested dicts."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.ravel().tolist(), "dtype": str(value.dtype),
                "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            array = np.array(value["__ndarray__"], dtype=value["dtype"])
            return array.reshape(value["shape"]) if "shape" in value else array
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class Checkpointer:
    """Writes and reads the checkpoints of one phase (search or train) of a run.

    Args:
        root: The folder of this phase's checkpoints.
    """

    def __init__(self, root: str):
        self.root = root

    def _tags(self) -> List[str]:
        if not os.path.isdir(self.root):
            return []
        return sorted(t for t in os.listdir(self.root)
                      if not t.startswith(".") and os.path.isdir(os.path.join(self.root, t)))

    def save(self, tag: str, params: Mapping[str, nn.Variable],
             optimizers: Mapping[str, Any], state: Mapping[str, Any]) -> str:
        """Write a checkpoint named ``tag`` (tags sort by age) and return its folder."""
        os.makedirs(self.root, exist_ok=True)
        final = os.path.join(self.root, tag)
        with atomic_path(final, folder=True) as tmp:
            write_arrays(os.path.join(tmp, PARAMS),
                         {k: np.asarray(p.d, dtype=np.float32) for k, p in params.items()})
            for name, opt in optimizers.items():
                write_arrays(os.path.join(tmp, f"{name}.opt.npz"), opt.state_arrays())
            with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
                json.dump(encode(dict(state)), f)
            manifest = {name: file_sha256(os.path.join(tmp, name)) for name in os.listdir(tmp)}
            with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
                json.dump(manifest, f, indent=2)
        atomic_write_text(os.path.join(self.root, "latest"), tag + "\n")
        for old in self._tags()[:-KEEP]:
            shutil.rmtree(os.path.join(self.root, old), ignore_errors=True)
        return final

    def verify(self, tag: str) -> Optional[str]:
        """None if checkpoint ``tag`` is complete and intact, else what is wrong."""
        folder = os.path.join(self.root, tag)
        manifest_path = os.path.join(folder, "manifest.json")
        try:
            with open(manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            return f"{manifest_path}: unreadable ({e})"
        if not isinstance(manifest, dict) or not {PARAMS, OLD_PARAMS} & set(manifest):
            return f"{manifest_path}: not a checkpoint manifest"
        for name, digest in manifest.items():
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                return f"{path}: missing"
            if file_sha256(path) != digest:
                return f"{path}: checksum mismatch (truncated or corrupted)"
        return None

    def latest(self, warn=None) -> Optional[str]:
        """The newest intact checkpoint's tag, or None if there is none at all.

        Damaged checkpoints are skipped (``warn`` is called with the reason).

        Raises:
            CheckpointError: if checkpoints exist but none is intact.
        """
        tags = self._tags()
        problems = []
        for tag in reversed(tags):
            problem = self.verify(tag)
            if problem is None:
                return tag
            problems.append(problem)
            if warn is not None:
                warn(f"skipping damaged checkpoint: {problem}")
        if problems:
            raise CheckpointError("no intact checkpoint in " + self.root + ": "
                                  + "; ".join(problems))
        return None

    def load(self, tag: str, params: Mapping[str, nn.Variable],
             optimizers: Mapping[str, Any]) -> Dict[str, Any]:
        """Restore parameters and optimizer states from ``tag``; return its run state."""
        folder = os.path.join(self.root, tag)
        old = not os.path.exists(os.path.join(folder, PARAMS))
        path = os.path.join(folder, OLD_PARAMS if old else PARAMS)
        try:
            values = read_parameter_file(path) if old else read_arrays(path)
            copy_parameters(params, values, strict=True, source=repr(path))
            for name, opt in optimizers.items():
                path = os.path.join(folder, f"{name}.opt.{'h5' if old else 'npz'}")
                if old:
                    opt.load_states(path)
                else:
                    opt.load_state_arrays(read_arrays(path), source=repr(path))
        except (ValueError, KeyError, OSError) as e:  # a bad file, or another run's
            raise CheckpointError(f"checkpoint {folder} does not fit this run: {e}"
                                  ) from None
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
            return decode(json.load(f))
