"""Building blocks of the DARTS search space.

`MixedOp` lives in :mod:`nnabla_nas.module` (every search space uses it) and is
importable from here too, as in the older nnabla-nas API, with the blocks of the DARTS
candidates and cells.
"""
from ...module.mixedop import MixedOp
from .cells import AuxiliaryHead, SearchCell, TrainCell
from .ops import DilConv, FactorizedReduce, ReLUConvBN, SepConv

__all__ = ["MixedOp", "ReLUConvBN", "FactorizedReduce", "SepConv", "DilConv",
           "SearchCell", "TrainCell", "AuxiliaryHead"]
