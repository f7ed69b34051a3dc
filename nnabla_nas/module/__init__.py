"""The module tree that networks and search spaces are built from.

Typical use::

    from nnabla_nas import module as Mo
    block = Mo.Sequential(Mo.Conv(3, 8, (3, 3), pad=(1, 1)), Mo.ReLU())
"""
from .activation import Hsigmoid, Hswish, LeakyReLU, ReLU, ReLU6, reuse_relu
from .batchnorm import BatchNormalization
from .container import ModuleList, ParameterList, Sequential
from .convolution import Conv, DwConv
from .linear import Linear
from .misc import Dropout, Identity, Lambda, Merging, Zero
from .mixedop import MixedOp
from .module import Module, ParameterLoadError, training_mode
from .parameter import ArchParameter, Parameter, is_arch_parameter
from .pooling import AvgPool, GlobalAvgPool, MaxPool

#: Every layer class (modules that compute something of their own), for tests and docs.
LAYERS = (Conv, DwConv, Linear, BatchNormalization, ReLU, ReLU6, LeakyReLU, Hswish,
          Hsigmoid, MaxPool, AvgPool, GlobalAvgPool, Identity, Zero, Dropout, Merging,
          Lambda)

__all__ = [
    "Module", "Parameter", "ArchParameter", "is_arch_parameter", "ParameterLoadError",
    "training_mode",
    "Sequential", "ModuleList", "ParameterList",
    "Conv", "DwConv", "Linear", "BatchNormalization",
    "ReLU", "ReLU6", "LeakyReLU", "Hswish", "Hsigmoid", "reuse_relu",
    "MaxPool", "AvgPool", "GlobalAvgPool",
    "Identity", "Zero", "Dropout", "Merging", "Lambda",
    "MixedOp", "LAYERS",
]
