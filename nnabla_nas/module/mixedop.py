"""`MixedOp`: a choice among candidate operations, weighted by architecture parameters."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import nnabla.functions as F
import nnabla.random
import numpy as np
from nnabla.initializer import ConstantInitializer

from . import checks as C
from .container import ModuleList
from .misc import Zero
from .module import Module
from .parameter import ArchParameter, Parameter


def softmax(values: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a flat array (float64)."""
    z = np.asarray(values, dtype=np.float64).ravel()
    e = np.exp(z - z.max())
    return e / e.sum()


class MixedOp(Module):
    """A choice among candidate operations with one architecture weight per candidate.

    Modes:
        * ``'full'``: the softmax(alpha)-weighted sum of every candidate (DARTS). All
          candidates must give outputs of one shape; alpha gets the exact gradient.
          :class:`~nnabla_nas.module.misc.Zero` candidates are not computed, and a
          candidate whose :meth:`~Module.folds_scale` is True (one ending in a batch
          normalization) takes its weight into that normalization's gamma and beta
          (:meth:`~Module.call_scaled`), so its output need not be kept for alpha's
          gradient; the others are summed in one matrix product.
        * ``'sample'``: one candidate drawn from softmax(alpha) runs (ProxylessNAS). The
          forward value is that candidate's output; alpha receives the binary-gate
          gradient of the drawn path, ``dL/dalpha = <dL/dy, y> * p_k (e_k - p)``, through
          a gate that equals one in the forward pass.
        * ``'max'``: the candidate with the largest alpha runs; alpha gets no gradient.

    In ``'sample'`` and ``'max'`` modes the candidates that did not run are marked with
    ``need_grad=False`` so that ``get_parameters(grad_only=True)`` lists only the active
    path; :attr:`active_index` tells which one ran.

    A searcher can choose the candidates of ``'sample'`` mode itself with
    :meth:`select` (e.g. after :meth:`draw`, to reject paths over a budget or to
    replay a path): one index runs that candidate as if drawn; a pair ``(k, j)`` runs
    ProxylessNAS' two-path binary gates: the forward value is candidate ``k``'s output,
    and alpha gets ``sum_i <dL/dy, y_i> dq_i/dalpha`` over the two candidates ``i in
    {k, j}``, with ``q`` the softmax of their two alphas (the paper's gradient, which
    needs both outputs but no other path).

    Args:
        operators: The candidate modules.
        mode: ``'full'``, ``'sample'`` or ``'max'``; can be changed later via :attr:`mode`.
        alpha: A :class:`Parameter` with one entry per candidate to share between
            several MixedOps (any shape of that size); by default a new zero-initialized
            parameter named ``alpha``. Either way it becomes an
            :class:`~nnabla_nas.module.ArchParameter`: what weights candidates is an
            architecture parameter.
        rng: Random state for ``'sample'`` mode (default: NNabla's ``nnabla.random.prng``,
            so ``nnabla.random.seed`` makes draws reproducible).
        label: The stable name of the decision this MixedOp makes in its search space
            (``normal/node2/edge0``, ``block7``); MixedOps sharing a label make one
            decision together. Search spaces set it; see
            :class:`~nnabla_nas.contrib.spaces.SearchSpace`.
        names: The candidates' names, one per operator (default: ``'0'``, ``'1'``...).
    """

    MODES = ("full", "sample", "max")

    def __init__(self, operators: Sequence[Module], mode: str = "full",
                 alpha: Optional[Parameter] = None,
                 rng: Optional[np.random.RandomState] = None,
                 label: Optional[str] = None, names: Optional[Sequence[str]] = None):
        name = type(self).__name__
        if isinstance(operators, Module) or not isinstance(operators, (list, tuple)) \
                or not operators:
            raise TypeError(f"{name}: operators: expected a non-empty list of modules, "
                            f"got {type(operators).__name__}")
        self.ops = ModuleList(operators)
        n = len(operators)
        if alpha is None:
            alpha = ArchParameter((n,), initializer=ConstantInitializer(0.0))
        elif not isinstance(alpha, Parameter) or alpha.size != n:
            raise ValueError(f"{name}: alpha: expected a Parameter with {n} entries (one "
                             f"per operator), got {alpha!r}")
        elif not isinstance(alpha, ArchParameter):
            alpha.__class__ = ArchParameter  # the same object, tagged by its role
        if label is not None and (not isinstance(label, str) or not label):
            raise ValueError(f"{name}: label: expected a non-empty string, got {label!r}")
        names = tuple(str(i) for i in range(n)) if names is None else tuple(names)
        if len(names) != n or len(set(names)) != n or not all(
                isinstance(x, str) and x for x in names):
            raise ValueError(f"{name}: names: expected {n} distinct non-empty names (one "
                             f"per operator), got {list(names)}")
        self.alpha = alpha
        self.label = label
        self.names = names
        self.mode = mode
        self._rng = rng
        self._active: Optional[int] = None
        self._selected: Optional[Tuple[int, ...]] = None

    @property
    def mode(self) -> str:
        """The selection mode, one of ``'full'``, ``'sample'`` and ``'max'``."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.__dict__["_mode"] = C.one_of(type(self).__name__, "mode", value, self.MODES)

    @property
    def active_index(self) -> Optional[int]:
        """The candidate used by the last ``'sample'`` or ``'max'`` call, else None."""
        return self._active

    def probabilities(self) -> np.ndarray:
        """softmax(alpha) as a numpy array, one entry per candidate."""
        return softmax(self.alpha.d)

    @property
    def selected(self) -> Optional[Tuple[int, ...]]:
        """The candidates :meth:`select` fixed for ``'sample'`` mode, or None (draw)."""
        return self._selected

    def select(self, indices: Union[None, int, Sequence[int]]) -> "MixedOp":
        """Fix what later ``'sample'``-mode calls run instead of drawing: one candidate
        index, or a pair ``(active, other)`` of distinct indices for the two-path
        binary gates; None draws again. Returns ``self``.

        Raises:
            ValueError: naming a bad index, or a pair with repeated indices.
        """
        name, n = f"{type(self).__name__}.select", len(self.ops)
        if indices is None:
            self.__dict__["_selected"] = None
            return self
        flat = (indices,) if isinstance(indices, (int, np.integer)) else tuple(indices)
        if not 1 <= len(flat) <= 2 or len(set(flat)) != len(flat) or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n
                for i in flat):
            raise ValueError(f"{name}: indices: expected an index or a pair of distinct "
                             f"indices in [0, {n}), got {indices!r}")
        self.__dict__["_selected"] = tuple(int(i) for i in flat)
        return self

    def draw(self, count: int = 1, rng: Optional[np.random.RandomState] = None
             ) -> Tuple[int, ...]:
        """``count`` distinct candidates drawn from softmax(alpha) without replacement
        (from ``rng``, else the MixedOp's own random state or ``nnabla.random.prng``);
        nothing is selected."""
        probs = self.probabilities()
        if not 1 <= count <= len(probs):
            raise ValueError(f"{type(self).__name__}.draw: count: expected 1 to "
                             f"{len(probs)}, got {count!r}")
        rng = rng or (self._rng if self._rng is not None else nnabla.random.prng)
        if count == 1:  # the same draw as an unselected 'sample' call
            return (int(rng.choice(len(probs), p=probs)),)
        return tuple(int(i) for i in rng.choice(len(probs), size=count, replace=False,
                                                p=probs))

    def call(self, input):
        if self._mode == "full":
            if self._active is not None:  # undo the path masking of sample/max calls
                self.ops.apply(need_grad=True)
            self._active = None
            return self._weighted_sum(input)
        other = None
        if self._mode == "max":
            k = int(np.argmax(self.probabilities()))
        elif self._selected is not None:
            k, other = (self._selected + (None,))[:2]
        else:
            k = self.draw(1)[0]
        self._active = k
        for i, op in enumerate(self.ops):
            op.apply(need_grad=(i == k))
        out = self.ops[k](input)
        if self._mode != "sample" or not self.alpha.need_grad:
            return out
        if other is None:
            return out * self._gate(k, out.ndim)
        # The other candidate's gate is 0 in the forward pass, so no gradient flows back
        # through it: it runs on a copy of the input that does not need a gradient, so
        # backward stops there and none of its intermediate values are kept (only its
        # output, for the gate). A copy, not an unlinked view: the graph must know the
        # candidate reads the input, or the forward may release the input first.
        blocked = F.identity(input)
        blocked.need_grad = False
        return self._binary_gates(k, other, out, self.ops[other](blocked))

    def _weights(self):
        n = len(self.ops)
        alpha = self.alpha if self.alpha.shape == (n,) else F.reshape(self.alpha, (n,))
        return F.softmax(alpha, axis=0)

    def _live(self):
        """Indices of the candidates that can contribute: a :class:`Zero` adds nothing
        to the weighted sum (its weight still takes part in the softmax)."""
        return [i for i, op in enumerate(self.ops) if not isinstance(op, Zero)]

    def _weighted_sum(self, input):
        live = self._live() or [0]  # all Zero: one of them gives the zeros
        weights = self._weights()
        # Candidates that end in a normalization take their weight as its scale
        # (Module.call_scaled): no product, and no output kept for alpha's gradient.
        folded = [i for i in live if self.ops[i].folds_scale()]
        outs = {i: self.ops[i].call_scaled(input, F.slice(weights, (i,), (i + 1,)))
                for i in folded}
        rest = [i for i in live if i not in outs]
        outs.update((i, self.ops[i](input)) for i in rest)
        # The other Zeros are called for their output shape only: nothing consumes them.
        shapes = [tuple((outs[i] if i in outs else op(input)).shape)
                  for i, op in enumerate(self.ops)]
        if len(set(shapes)) > 1:
            raise ValueError(f"{type(self).__name__}: mode 'full' needs candidates with one "
                             f"output shape, got {shapes} from {len(shapes)} operators")
        terms = [outs[i] for i in folded]
        if rest:
            terms.append(self._product(weights, rest, [outs[i] for i in rest], shapes[0]))
        return terms[0] if len(terms) == 1 else F.add_n(*terms)

    def _product(self, weights, indices, outs, shape):
        """``sum_i weights[i] * outs[i]`` as one matrix product ``(1, n) x (n, size)``
        instead of broadcast multiplies and a sum: the same values and gradients, an
        order of magnitude faster on CPU. A single output is not copied into a stack."""
        n = len(indices)
        if indices == list(range(indices[0], indices[-1] + 1)):
            w = F.slice(weights, (indices[0],), (indices[-1] + 1,))
        else:
            w = F.concatenate(*[F.slice(weights, (i,), (i + 1,)) for i in indices], axis=0)
        stacked = F.stack(*outs, axis=0) if n > 1 else outs[0]
        mixed = F.affine(F.reshape(w, (1, n), inplace=False), F.reshape(stacked, (n, -1)))
        return F.reshape(mixed, shape, inplace=False)

    def _gate(self, k: int, ndim: int):
        """1 in the forward pass, with gradient d/dp_k: ``1 + p_k - stop_grad(p_k)``."""
        p_k = F.slice(self._weights(), start=(k,), stop=(k + 1,))
        gate = F.add_scalar(p_k - p_k.get_unlinked_variable(need_grad=False), 1.0)
        return F.reshape(gate, (1,) * ndim)

    def _binary_gates(self, k: int, j: int, out_k, out_j):
        """``g_k out_k + g_j out_j`` with gates ``(1, 0)`` in the forward pass and the
        gradient of ``q = softmax(alpha_k, alpha_j)``: ``g = onehot + q - stop_grad(q)``.
        """
        n = len(self.ops)
        alpha = self.alpha if self.alpha.shape == (n,) else F.reshape(self.alpha, (n,))
        pair = F.concatenate(F.slice(alpha, (k,), (k + 1,)), F.slice(alpha, (j,), (j + 1,)),
                             axis=0)
        q = F.softmax(pair, axis=0)
        delta = q - q.get_unlinked_variable(need_grad=False)  # 0, with dq's gradient
        shape = (1,) * out_k.ndim
        g_k = F.reshape(F.add_scalar(F.slice(delta, (0,), (1,)), 1.0), shape)
        g_j = F.reshape(F.slice(delta, (1,), (2,)), shape)
        return out_k * g_k + out_j * g_j

    def extra_repr(self) -> str:
        return f"num_ops={len(self.ops)}, mode={self._mode}"
