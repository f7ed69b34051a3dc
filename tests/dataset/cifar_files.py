"""Writing small CIFAR-10 python batches in the real files' format, for the tests.

The real batches are Python 2 pickles (protocol 2) of a dict with bytes keys
``b'batch_label'``, ``b'data'`` (uint8, (N, 3072), each row the R, G and B planes of a
32x32 image in row-major order), ``b'labels'`` (a list of ints) and ``b'filenames'``.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from nnabla_nas.dataset import cifar10

PER_BATCH = 10  # images per batch, one of each class


class Py2Pickler(pickle._Pickler):
    """Pickles str and bytes as Python 2 strings (SHORT_BINSTRING/BINSTRING), as the
    Python 2 ``cPickle`` that wrote the real files did; no ``_codecs`` global."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_string
    dispatch[str] = save_py2_string


def batch_dict(data: np.ndarray, labels, label: str = "training batch 1 of 5") -> dict:
    return {b"batch_label": label.encode(), b"labels": [int(v) for v in labels],
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(data))]}


def write_batch(path: Path, data: np.ndarray, labels, py2: bool = False) -> None:
    """Write one batch; ``py2`` writes the byte stream the original files have."""
    obj = batch_dict(data, labels)
    with open(path, "wb") as f:
        if py2:
            Py2Pickler(f, protocol=2).dump(obj)
        else:
            pickle.dump(obj, f, protocol=2)


def write_cifar(root: Path, seed: int = 0, py2: bool = False
                ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Five training batches and a test batch of ``PER_BATCH`` random images each.

    Returns:
        The raw ``(data (N, 3072) uint8, labels (N,))`` written, by file name.
    """
    folder = Path(root) / cifar10.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    written = {}
    for name in cifar10.TRAIN_FILES + (cifar10.TEST_FILE,):
        data = rng.randint(0, 256, size=(PER_BATCH, 3072)).astype(np.uint8)
        labels = rng.permutation(PER_BATCH) % cifar10.NUM_CLASSES
        write_batch(folder / name, data, labels, py2=py2)
        written[name] = (data, labels)
    return written


def make_archive(source_root: Path, archive: Path) -> str:
    """A .tar.gz of ``source_root``'s cifar-10-batches-py folder, as the real archive
    lays it out; returns its MD5."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(Path(source_root) / cifar10.FOLDER, arcname=cifar10.FOLDER)
    return hashlib.md5(archive.read_bytes()).hexdigest()


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"x",
               kind: bytes = tarfile.REGTYPE, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
