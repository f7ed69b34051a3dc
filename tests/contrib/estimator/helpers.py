"""Small modules and fast estimators shared by the estimator tests."""
from __future__ import annotations

import nnabla as nn

from nnabla_nas import module as Mo
from nnabla_nas.contrib.estimator import LatencyEstimator
from nnabla_nas.contrib.estimator.profiler import IN_MEMORY
from nnabla_nas.contrib.pnas import InvertedResidual


def fast_estimator(**kwargs) -> LatencyEstimator:
    """CPU estimator with the fewest timing repeats (tests check logic, not speed), an
    in-memory table and no calibration unless asked for."""
    kwargs.setdefault("warmup", 0)
    kwargs.setdefault("repeats", 1)
    kwargs.setdefault("table", IN_MEMORY)
    kwargs.setdefault("calibrate_mode", "never")
    return LatencyEstimator(**kwargs)


def called(module: Mo.Module, *shape: int) -> Mo.Module:
    """``module`` after one call on an input of ``shape`` (records the shape)."""
    with nn.auto_forward(False):
        module(nn.Variable(shape))
    return module


def small_block(in_channels: int = 8, out_channels: int = 8, stride: int = 1
                ) -> InvertedResidual:
    return called(InvertedResidual(in_channels, out_channels, 3, stride, 3), 1,
                  in_channels, 8, 8)
