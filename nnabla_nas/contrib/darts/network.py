"""The DARTS networks: `SearchNet` (the continuous relaxation searched over) and
`TrainNet` (a discrete architecture, trained from scratch)."""
from __future__ import annotations

from numbers import Real
from typing import Callable, List, Optional, Sequence, Tuple

import nnabla.random
import numpy as np

from ... import module as Mo
from ...module import MixedOp
from ...module import checks as C
from ..model import Model
from .cells import AuxiliaryHead, SearchCell, TrainCell, reduction_indices
from .genotype import Genotype, derive_genotype, num_edges
from .ops import PRIMITIVES


def _flag(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name}: expected a bool, got {value!r}")
    return value


def _stem(in_channels: int, channels: int) -> Mo.Sequential:
    """3x3 convolution and batch normalization."""
    conv = Mo.Conv(in_channels, channels, (3, 3), pad=(1, 1), with_bias=False)
    return Mo.Sequential(conv, Mo.BatchNormalization(channels, 4))


def _build_cells(num_cells: int, init_channels: int, stem_channels: int,
                 make_cell: Callable[..., Mo.Module]) -> Tuple[List[Mo.Module], List[int]]:
    """The DARTS cell layout, shared by both networks: channels double at the
    reduction cells (1/3 and 2/3 depth), and each cell reads the outputs of the two
    before it.

    ``make_cell(prev_prev, prev, channels, reduction, reduction_prev)`` builds one cell,
    which must have an ``out_channels`` attribute. Returns the cells and the output
    channels of each.
    """
    prev_prev, prev, channels = stem_channels, stem_channels, init_channels
    reductions, reduction_prev = reduction_indices(num_cells), False
    cells, outputs = [], []
    for i in range(num_cells):
        reduction = i in reductions
        channels *= 2 if reduction else 1
        cell = make_cell(prev_prev, prev, channels, reduction, reduction_prev)
        cells.append(cell)
        outputs.append(cell.out_channels)
        prev_prev, prev, reduction_prev = prev, cell.out_channels, reduction
    return cells, outputs


class SearchNet(Model):
    """The DARTS search network (Liu et al., 2019, CIFAR-10 setting).

    A 3x3 stem, ``num_cells`` cells (reduction cells, which double the channels and
    halve the size, at 1/3 and 2/3 depth), global average pooling and a linear
    classifier. Every edge of a cell is a :class:`~nnabla_nas.module.MixedOp` over the
    candidates of :data:`~nnabla_nas.contrib.darts.ops.PRIMITIVES`.

    Architecture parameters (names holding ``alpha``), initialized to
    ``1e-3 * randn`` as in the paper:

    * ``shared=True`` (the paper): one parameter per edge for all normal cells,
      ``alpha_normal/0 ..``, and one per edge for all reduction cells,
      ``alpha_reduce/0 ..``, each of shape ``(len(PRIMITIVES),)``.
    * ``shared=False``: every edge owns its own, ``cells/<i>/edges/<j>/alpha``.

    Args:
        in_channels: Channels of the input images.
        init_channels: Channels of the nodes of the first cells.
        num_cells: Number of cells, at least 3.
        num_classes: Number of classes.
        num_nodes: Intermediate nodes per cell.
        multiplier: Each cell outputs the concatenation of its last ``multiplier``
            nodes.
        stem_multiplier: The stem outputs ``stem_multiplier * init_channels`` channels.
        mode: The mode of every MixedOp, ``'full'``, ``'sample'`` or ``'max'``; change it
            later with :meth:`set_mode`.
        shared: Share the alphas between the cells of each kind.
        rng: Random state drawing the initial alphas (default: NNabla's
            ``nnabla.random.prng``). Weights use NNabla's initializers.
    """

    def __init__(self, in_channels: int, init_channels: int, num_cells: int,
                 num_classes: int, num_nodes: int = 4, multiplier: int = 4,
                 stem_multiplier: int = 3, mode: str = "full", shared: bool = True,
                 rng: Optional[np.random.RandomState] = None):
        name = type(self).__name__
        C.positive_int(name, "in_channels", in_channels)
        C.positive_int(name, "init_channels", init_channels)
        if C.positive_int(name, "num_cells", num_cells) < 3:
            raise ValueError(f"{name}: num_cells: expected an int >= 3 (normal cells and "
                             f"reduction cells at 1/3 and 2/3 depth), got {num_cells}")
        C.positive_int(name, "num_classes", num_classes)
        C.positive_int(name, "num_nodes", num_nodes)
        if not C.positive_int(name, "multiplier", multiplier) <= num_nodes:
            raise ValueError(f"{name}: multiplier: expected at most num_nodes={num_nodes}, "
                             f"got {multiplier}")
        C.positive_int(name, "stem_multiplier", stem_multiplier)
        self._mode = C.one_of(name, "mode", mode, MixedOp.MODES)
        self._shared = _flag(name, "shared", shared)
        if rng is not None and not isinstance(rng, np.random.RandomState):
            raise TypeError(f"{name}: rng: expected a numpy RandomState or None, got "
                            f"{type(rng).__name__}")
        rng = nnabla.random.prng if rng is None else rng
        self._num_nodes, self._multiplier = num_nodes, multiplier

        def alpha_init(shape: Tuple[int, ...]) -> np.ndarray:
            return 1e-3 * rng.randn(*shape)

        def alpha_list():
            return Mo.ParameterList([Mo.ArchParameter((len(PRIMITIVES),),
                                                     initializer=alpha_init)
                                     for _ in range(num_edges(num_nodes))])

        if shared:  # registered first, so that they are named alpha_normal/<edge>, ...
            self.alpha_normal = alpha_list()
            self.alpha_reduce = alpha_list()
        stem_channels = stem_multiplier * init_channels
        self.stem = _stem(in_channels, stem_channels)

        def make_cell(prev_prev, prev, channels, reduction, reduction_prev):
            alphas = None
            if shared:
                alphas = self.alpha_reduce if reduction else self.alpha_normal
            return SearchCell(prev_prev, prev, channels, reduction, reduction_prev,
                              num_nodes, multiplier, mode, alphas, alpha_init)

        cells, outputs = _build_cells(num_cells, init_channels, stem_channels, make_cell)
        prev = outputs[-1]
        self.cells = Mo.ModuleList(cells)
        self.pool = Mo.GlobalAvgPool()
        self.classifier = Mo.Linear(prev, num_classes)

    def call(self, x):
        # Each state's ReLU is computed once for all the candidates that start with one.
        with Mo.reuse_relu():
            s0 = s1 = self.stem(x)
            for cell in self.cells:
                s0, s1 = s1, cell(s0, s1)
            return self.classifier(self.pool(s1))

    @property
    def mode(self) -> str:
        """The mode of the MixedOps (set it with :meth:`set_mode`)."""
        return self._mode

    def set_mode(self, mode: str) -> "SearchNet":
        """Switch every MixedOp to ``mode`` (``'full'``, ``'sample'`` or ``'max'``), e.g.
        from the DARTS relaxation to sampled paths, and return ``self``."""
        self._mode = C.one_of(type(self).__name__, "mode", mode, MixedOp.MODES)
        for _, module in self.get_modules():
            if isinstance(module, MixedOp):
                module.mode = mode
        return self

    def alpha_array(self, kind: str) -> np.ndarray:
        """The alphas of the ``'normal'`` or ``'reduce'`` cells as an array of shape
        ``(edges, len(PRIMITIVES))``.

        With ``shared=False`` this is the mean of the alphas of the cells of that kind:
        the architecture is derived from it, as from the shared alphas of the paper.
        """
        C.one_of(type(self).__name__, "kind", kind, ("normal", "reduce"))
        if self._shared:
            params = self.alpha_reduce if kind == "reduce" else self.alpha_normal
            return np.stack([np.array(p.d) for p in params])
        cells = [c for c in self.cells if c.reduction == (kind == "reduce")]
        return np.mean([np.stack([np.array(e.alpha.d) for e in c.edges]) for c in cells],
                       axis=0)

    def genotype(self) -> Genotype:
        """The discrete architecture by the DARTS rule (see
        :func:`~nnabla_nas.contrib.darts.genotype.derive_cell`) applied to
        :meth:`alpha_array` of each kind."""
        return derive_genotype(self.alpha_array("normal"), self.alpha_array("reduce"),
                               self._num_nodes, self._multiplier)

    def extra_repr(self) -> str:
        return f"mode={self._mode}, shared={self._shared}"


class TrainNet(Model):
    """A discrete DARTS network built from a :class:`Genotype`, trained from scratch.

    The layout of :class:`SearchNet` with each node summing the genotype's two ops
    (learned BN affine parameters, pools without BN). Optionally an auxiliary head
    after the second reduction cell (2/3 depth), and drop path on every op output but
    the identities while training.

    Args:
        genotype: The architecture.
        in_channels: Channels of the input images.
        init_channels: Channels of the nodes of the first cells.
        num_cells: Number of cells.
        num_classes: Number of classes.
        auxiliary: Add the auxiliary head (:class:`~.cells.AuxiliaryHead`).
        stem_multiplier: The stem outputs ``stem_multiplier * init_channels`` channels.
        drop_path_prob: Probability of dropping an op output per sample; the attribute
            of that name can be changed later (trainers ramp it up linearly).
        auxiliary_weight: Weight of the auxiliary loss in :meth:`loss` (the paper: 0.4).

    Calling it returns the logits, or ``[logits, aux_logits]`` when training with the
    auxiliary head; :meth:`loss` then weights the two losses by ``[1,
    auxiliary_weight]``.
    """

    def __init__(self, genotype: Genotype, in_channels: int, init_channels: int,
                 num_cells: int, num_classes: int, auxiliary: bool = False,
                 stem_multiplier: int = 3, drop_path_prob: float = 0.0,
                 auxiliary_weight: float = 0.4):
        name = type(self).__name__
        if not isinstance(genotype, Genotype):
            raise TypeError(f"{name}: genotype: expected a Genotype, got "
                            f"{type(genotype).__name__}")
        C.positive_int(name, "in_channels", in_channels)
        C.positive_int(name, "init_channels", init_channels)
        C.positive_int(name, "num_cells", num_cells)
        C.positive_int(name, "num_classes", num_classes)
        self._auxiliary = _flag(name, "auxiliary", auxiliary)
        C.positive_int(name, "stem_multiplier", stem_multiplier)
        self.drop_path_prob = drop_path_prob
        if isinstance(auxiliary_weight, bool) or not isinstance(auxiliary_weight, Real) \
                or not auxiliary_weight >= 0:
            raise ValueError(f"{name}: auxiliary_weight: expected a float >= 0, got "
                             f"{auxiliary_weight!r}")
        self._auxiliary_weight = float(auxiliary_weight)
        self._genotype = genotype
        self._aux_index = 2 * num_cells // 3
        stem_channels = stem_multiplier * init_channels
        self.stem = _stem(in_channels, stem_channels)

        def make_cell(prev_prev, prev, channels, reduction, reduction_prev):
            kind = "reduce" if reduction else "normal"
            return TrainCell(getattr(genotype, kind), getattr(genotype, f"{kind}_concat"),
                             prev_prev, prev, channels, reduction, reduction_prev)

        cells, outputs = _build_cells(num_cells, init_channels, stem_channels, make_cell)
        prev, aux_channels = outputs[-1], outputs[self._aux_index]
        self.cells = Mo.ModuleList(cells)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(aux_channels, num_classes)
        self.pool = Mo.GlobalAvgPool()
        self.classifier = Mo.Linear(prev, num_classes)

    @property
    def genotype(self) -> Genotype:
        """The architecture the network was built from."""
        return self._genotype

    @property
    def auxiliary(self) -> bool:
        """Whether the network has the auxiliary head."""
        return self._auxiliary

    @property
    def drop_path_prob(self) -> float:
        """Per-sample probability of dropping an op output while training, in [0, 1)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        self.__dict__["_drop_path_prob"] = C.probability(type(self).__name__,
                                                         "drop_path_prob", value)

    def call(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self._drop_path_prob)
            if i == self._aux_index and self._auxiliary and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.pool(s1))
        return logits if aux is None else [logits, aux]

    def loss(self, outputs, targets, loss_weights: Optional[Sequence[float]] = None):
        """:meth:`Model.loss`, with ``loss_weights`` defaulting to ``[1,
        auxiliary_weight]`` for the two outputs of the auxiliary head."""
        if loss_weights is None and isinstance(outputs, (list, tuple)) \
                and len(outputs) == 2:
            loss_weights = [1.0, self._auxiliary_weight]
        return super().loss(outputs, targets, loss_weights)

    def extra_repr(self) -> str:
        return (f"auxiliary={self._auxiliary}, auxiliary_weight={self._auxiliary_weight}, "
                f"drop_path_prob={self._drop_path_prob}")
