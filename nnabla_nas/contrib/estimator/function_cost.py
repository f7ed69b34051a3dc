"""`FunctionCostEstimator`: the base of estimators whose cost is a sum over the
functions of a module's NNabla inference graph (MACs, bytes written).

Each function belongs to the module whose ``call()`` created it, outside the calls of
its submodules (see :func:`~.graph.module_graph`), so :meth:`~FunctionCostEstimator.predict`
(a module's own functions) summed over the modules that run equals the cost of the
whole graph, as expected costs over MixedOps need. Building one module's graph also
gives every submodule's share, which is memoized.
"""
from __future__ import annotations

import weakref
from typing import Hashable

import nnabla as nn

from ...module import MixedOp, Module, ModuleList
from .base import Estimator, NamedModules, active_index
from .graph import graph_functions, module_graph
from .measure import FunctionSpec


class FunctionCostEstimator(Estimator):
    """Costs that add up over the functions of the inference graph; subclasses define
    :meth:`function_cost`."""

    def __init__(self) -> None:
        super().__init__()
        # module -> {signature: own cost}, filled by the graph of an enclosing module
        self._own: "weakref.WeakKeyDictionary[Module, dict]" = weakref.WeakKeyDictionary()

    def function_cost(self, spec: FunctionSpec) -> float:
        """The cost of one function call, in :attr:`unit`."""
        raise NotImplementedError(f"{type(self).__name__} does not define function_cost()")

    def graph_cost(self, outputs) -> float:
        """The cost of every function of a forward pass to ``outputs``."""
        return float(sum(self.function_cost(s) for s in graph_functions(outputs)))

    def _signature(self, module: Module) -> Hashable:
        """Input shapes and the candidate each MixedOp below runs."""
        mixed = tuple((m.mode, None if m.mode == "full" else active_index(m))
                      for _, m in module.get_modules() if isinstance(m, MixedOp))
        return tuple(tuple(s) for s in module.input_shapes), mixed

    def _predict(self, module: Module) -> float:
        if not module.input_shapes and type(module).call in (Module.call, ModuleList.call):
            return 0.0  # a container that is never called runs nothing itself
        signature = self._signature(module)
        known = self._own.get(module, {})
        if signature in known:
            return known[signature]
        _, _, own = module_graph(module, nn.get_current_context(), trace=True)
        for m, specs in own.items():  # the graph gives every submodule's own share
            self._own.setdefault(m, {})[self._signature(m)] = float(
                sum(self.function_cost(s) for s in specs))
        return self._own[module].get(signature, 0.0) if module in self._own else 0.0

    def total(self, modules: NamedModules) -> float:
        """The cost of a set of modules of one tree: the sum of their own costs (every
        module, not only leaves, since a ``call()`` may add functions of its own)."""
        return float(sum(self.predict(m) for _, m in modules))

    def get_estimation(self, module: Module) -> float:
        """The cost of one inference of ``module`` (or of its active path)."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.get_estimation: expected a Module, "
                            f"got {type(module).__name__}")
        _, outputs = module_graph(module, nn.get_current_context())
        return self.graph_cost(outputs)

    def reset(self) -> None:
        super().reset()
        self._own = weakref.WeakKeyDictionary()
