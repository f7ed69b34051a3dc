"""The ProxylessNAS family: MobileNetV2 building blocks, the search space's genotype
and networks. Importing this package registers nothing; the space registers itself
as ``proxylessnas`` when :mod:`nnabla_nas.contrib.spaces` imports :mod:`.space`."""
from .blocks import IMAGENET_STAGES, InvertedResidual, MobileNetV2Like, random_mobilenet
from .genotype import (OPS, SKIP, Block, Genotype, load_genotype, plain_mobilenet_v2_arch,
                       save_genotype)
from .network import SearchNet, TrainNet, candidate

__all__ = ["InvertedResidual", "MobileNetV2Like", "random_mobilenet",
           "IMAGENET_STAGES", "OPS", "SKIP", "Block", "Genotype", "load_genotype",
           "plain_mobilenet_v2_arch", "save_genotype", "SearchNet", "TrainNet",
           "candidate"]
