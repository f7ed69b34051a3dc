"""Building blocks of the DARTS search space.

`MixedOp` lives in :mod:`nnabla_nas.module` (every search space uses it) and is
importable from here too, as in the older nnabla-nas API.
"""
from ...module.mixedop import MixedOp

__all__ = ["MixedOp"]
