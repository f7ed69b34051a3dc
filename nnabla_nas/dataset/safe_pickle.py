"""Loading pickled numpy data without executing anything from the file.

A pickle can name any importable callable and have the unpickler call it; ``pickle.load``
on a downloaded file is code execution. :func:`load` resolves only the few names that
pickled numpy arrays need (what the CIFAR python batches reference:
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``, plus the
names Python 3 writes for ``bytes`` at protocols below 3). Any other name is refused
before it is imported.
"""
from __future__ import annotations

import builtins
import codecs
import io
import pickle
from typing import IO, Any, Callable, Dict, Tuple

import numpy as np

try:  # numpy >= 2 moved the module; pickles name either path
    from numpy._core.multiarray import _reconstruct
except ImportError:
    from numpy.core.multiarray import _reconstruct


class UnsafePickleError(ValueError):
    """A pickle names something outside the allowed set; nothing was executed."""


def _latin1_encode(text: str, encoding: str) -> bytes:
    # What Python 3 writes for bytes at protocol 2: _codecs.encode(text, "latin1").
    # Only that codec is accepted: a codec name is itself a lookup the file controls.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode is only allowed with 'latin1', "
                                f"got encoding {encoding!r}")
    return codecs.encode(text, "latin1")


_ALLOWED: Dict[Tuple[str, str], Callable[..., Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    **{(module, name): getattr(builtins, name)
       for module in ("builtins", "__builtin__")
       for name in ("bytes", "dict", "list", "str", "int")},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str):
        # encoding="bytes": Python 2 strings (the CIFAR files') load as bytes.
        super().__init__(file, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in _ALLOWED))
            raise UnsafePickleError(
                f"{self._source}: refusing to load '{module}.{name}' from the pickle "
                f"(nothing from a data file is executed); allowed: {allowed}") from None


def load(file: IO[bytes], source: str) -> Any:
    """Unpickle ``file``, allowing only plain data and numpy arrays.

    Args:
        file: A binary file object positioned at the pickle.
        source: Names the file in error messages.

    Raises:
        UnsafePickleError: if the pickle names anything else (nothing was executed).
        ValueError: naming ``source`` if the bytes are not a valid pickle.
    """
    try:
        return _RestrictedUnpickler(file, source).load()
    except UnsafePickleError as err:
        if str(err).startswith(source):
            raise
        raise UnsafePickleError(f"{source}: {err}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            KeyError, AttributeError, OverflowError, UnicodeDecodeError,
            MemoryError) as err:
        raise ValueError(f"{source}: not a valid pickle ({type(err).__name__}: {err})"
                         ) from None


def loads(data: bytes, source: str = "<bytes>") -> Any:
    """:func:`load` from a bytes object."""
    return load(io.BytesIO(data), source)
