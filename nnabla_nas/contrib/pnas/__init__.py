"""The ProxylessNAS family: MobileNetV2 building blocks, the candidate operations of a
block (registered in :data:`CANDIDATES`), the search space's genotype and networks.
The space registers itself as ``proxylessnas`` when :mod:`nnabla_nas.contrib.spaces`
imports :mod:`.space`."""
from .blocks import IMAGENET_STAGES, InvertedResidual, MobileNetV2Like, random_mobilenet
from .genotype import (OPS, SKIP, Block, Genotype, load_genotype, plain_mobilenet_v2_arch,
                       save_genotype)
from .network import SearchNet, TrainNet, candidate
from .ops import CANDIDATES

__all__ = ["InvertedResidual", "MobileNetV2Like", "random_mobilenet",
           "IMAGENET_STAGES", "OPS", "SKIP", "Block", "Genotype", "load_genotype",
           "plain_mobilenet_v2_arch", "save_genotype", "SearchNet", "TrainNet",
           "candidate", "CANDIDATES"]
