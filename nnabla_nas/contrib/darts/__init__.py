"""The DARTS search space (Liu et al., 2019, "DARTS: Differentiable Architecture Search").

* :mod:`.ops`: the eight candidate operations, registered in ``CANDIDATES``.
* :mod:`.cells` and :mod:`.network`: ``SearchNet`` (every edge a MixedOp over the
  candidates) and ``TrainNet`` (a discrete architecture, with auxiliary head and drop
  path).
* :mod:`.genotype`: ``Genotype``, its derivation from the alphas of a ``SearchNet``,
  and ``arch.json`` files.

Typical use::

    net = SearchNet(in_channels=3, init_channels=16, num_cells=8, num_classes=10)
    ...  # search
    save_genotype(net.genotype(), "arch.json")
    model = TrainNet(load_genotype("arch.json"), 3, 36, 20, 10, auxiliary=True)
"""
from .genotype import (DARTS_V2, Genotype, derive_cell, derive_genotype, load_genotype,
                       save_genotype)
from .network import SearchNet, TrainNet
from .ops import CANDIDATES, PRIMITIVES

__all__ = ["CANDIDATES", "PRIMITIVES", "DARTS_V2", "Genotype", "derive_cell",
           "derive_genotype", "load_genotype", "save_genotype", "SearchNet", "TrainNet"]
