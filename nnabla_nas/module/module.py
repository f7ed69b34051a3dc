"""`Module`: the node of the tree that every network and search space is built from."""
from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional, Tuple

import nnabla as nn
import nnabla.functions as F
import numpy as np

from ..utils.files import atomic_path
from .parameter import Parameter

#: Separator of hierarchical names, as in NNabla's parameter scopes (``cell1/conv/W``).
SEP = "/"

# Per-instance state, created in ``__new__`` so that subclasses work without calling
# ``super().__init__()``.
_STATE = ("_parameters", "_modules", "_training", "_need_grad", "_input_shapes")


class ParameterLoadError(ValueError):
    """Raised when stored parameters do not match a module tree.

    Attributes:
        missing: Names the module has and the source lacks.
        unexpected: Names the source has and the module lacks.
        mismatched: ``(name, source shape, module shape)`` for shape disagreements.
    """

    def __init__(self, source: str, missing, unexpected, mismatched):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if mismatched:
            parts.append("shape mismatch " + ", ".join(
                f"'{k}': {s} in source, {m} in module" for k, s, m in mismatched))
        super().__init__(f"cannot load parameters from {source}: " + "; ".join(parts))


def copy_parameters(targets: Mapping[str, nn.Variable], values: Mapping[str, Any],
                    strict: bool = True, source: str = "the given mapping") -> None:
    """Copy ``values`` into ``targets`` by name, all or nothing.

    Raises:
        ParameterLoadError: for shape mismatches, and with ``strict`` for missing or
            unexpected names; nothing is copied then.
    """
    arrays = {k: np.asarray(v.d if isinstance(v, nn.Variable) else v)
              for k, v in values.items()}
    missing = [k for k in targets if k not in arrays]
    unexpected = [k for k in arrays if k not in targets]
    mismatched = [(k, arrays[k].shape, tuple(p.shape)) for k, p in targets.items()
                  if k in arrays and arrays[k].shape != tuple(p.shape)]
    if mismatched or (strict and (missing or unexpected)):
        raise ParameterLoadError(source, missing if strict else [],
                                 unexpected if strict else [], mismatched)
    for k, p in targets.items():
        if k in arrays:
            p.data.cast(np.float32)[...] = arrays[k]


def save_parameter_file(path: str, params: Mapping[str, nn.Variable]) -> None:
    """Save ``params`` in NNabla's format (by extension, ``.h5`` or ``.protobuf``) as
    float32, through a temporary file and a rename."""
    ext = os.path.splitext(path)[1]
    if ext not in (".h5", ".protobuf"):
        raise ValueError(f"save_parameters: path: expected a '.h5' or '.protobuf' "
                         f"file name, got {path!r}")
    for p in params.values():
        # `p.d = array` keeps the array's dtype; NNabla parameter files hold float32.
        p.data.cast(np.float32)
    with atomic_path(path, ext) as tmp:
        nn.save_parameters(tmp, OrderedDict(params), extension=ext)


def read_parameter_file(path: str) -> "OrderedDict[str, nn.Variable]":
    """Read an NNabla parameter file into a new dict, leaving NNabla's global parameter
    scope untouched.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming ``path`` if it is not a readable parameter file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_parameters: no such file: {path!r}")
    try:
        with nn.parameter_scope("", OrderedDict()):
            nn.load_parameters(path)
            return nn.get_parameters(grad_only=False)
    except Exception as e:  # NNabla raises many kinds for a bad file
        raise ValueError(f"load_parameters: {path!r} is not a readable NNabla "
                         f"parameter file ({type(e).__name__}: {e})") from e


def _join(prefix: str, name: str) -> str:
    return prefix + SEP + name if prefix else name


class Module:
    """Base class of every layer, block, search space and network.

    Attributes that are Modules or :class:`Parameter` objects are registered when they
    are assigned, in assignment order; no ``super().__init__()`` call is needed.
    Subclasses define the computation in :meth:`call`; calling the module records the
    input shapes in :attr:`input_shapes` and returns ``call(...)``.

    Parameters are named hierarchically from the attribute path, ``block/ops/0/W``, as
    NNabla's parameter scopes name them, so saved files load with NNabla's own tools.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "Module":
        obj = super().__new__(cls)
        state = obj.__dict__
        state["_parameters"] = OrderedDict()
        state["_modules"] = OrderedDict()
        state["_training"] = True
        state["_need_grad"] = True
        state["_input_shapes"] = []
        return obj

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_modules" not in self.__dict__:
            raise AttributeError(
                f"cannot assign '{name}' on {type(self).__name__}: the Module base is not "
                "set up (a __new__ override must call Module.__new__)")
        if isinstance(value, (Module, Parameter)):
            self._check_child_name(name)
        elif isinstance(value, nn.Variable) and value.parent is None and value.need_grad:
            raise TypeError(
                f"{type(self).__name__}.{name}: a plain nn.Variable with need_grad=True is "
                "not registered and would never be trained or saved; wrap it in "
                "Parameter, or set need_grad=False to keep it as a constant")
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Parameter):
            self._parameters[name] = value
        else:
            object.__setattr__(self, name, value)

    def _check_child_name(self, name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise KeyError(f"{type(self).__name__}: child name must be a non-empty string, "
                           f"got {name!r}")
        if SEP in name or "." in name:
            raise KeyError(f"{type(self).__name__}: child name '{name}' must not contain "
                           f"'{SEP}' or '.'")
        if hasattr(type(self), name):
            raise KeyError(f"{type(self).__name__}: child name '{name}' clashes with the "
                           f"attribute {type(self).__name__}.{name}")

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registered children.
        state = self.__dict__
        if "_modules" in state and name in state["_modules"]:
            return state["_modules"][name]
        if "_parameters" in state and name in state["_parameters"]:
            return state["_parameters"][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._modules) | set(self._parameters))

    # ------------------------------------------------------------------- properties
    @property
    def modules(self) -> "OrderedDict[str, Module]":
        """The immediate child modules, by attribute name."""
        return self._modules

    @property
    def parameters(self) -> "OrderedDict[str, Parameter]":
        """The immediate parameters, by attribute name."""
        return self._parameters

    @property
    def training(self) -> bool:
        """Whether the module is in training mode (batch statistics and dropout on).

        Set it on a whole tree with ``apply(training=...)``.
        """
        return self._training

    @training.setter
    def training(self, mode: bool) -> None:
        self.__dict__["_training"] = bool(mode)

    @property
    def need_grad(self) -> bool:
        """Whether this module's parameters take part in ``get_parameters(grad_only=True)``.
        """
        return self._need_grad

    @need_grad.setter
    def need_grad(self, mode: bool) -> None:
        self.__dict__["_need_grad"] = bool(mode)

    @property
    def input_shapes(self) -> list:
        """Shapes of the variables this module was last called with."""
        return self._input_shapes

    @input_shapes.setter
    def input_shapes(self, shapes: list) -> None:
        self.__dict__["_input_shapes"] = list(shapes)

    # -------------------------------------------------------------------- traversal
    def _walk(self, prefix: str = "", memo: Optional[set] = None,
              enabled: bool = True) -> Iterator[Tuple[str, "Module", bool]]:
        """The one traversal: ``(name, module, enabled)`` for this module and every
        descendant, depth first in registration order, each module once. ``enabled`` is
        False below any module whose ``need_grad`` is False."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        enabled = enabled and self.need_grad
        yield prefix, self, enabled
        for name, child in self._modules.items():
            yield from child._walk(_join(prefix, name), memo, enabled)

    def get_modules(self, prefix: str = "", memo: Optional[set] = None
                    ) -> Iterator[Tuple[str, "Module"]]:
        """Yield ``(name, module)`` for this module (named ``prefix``) and every
        descendant, each once, in a stable depth-first order."""
        for name, module, _ in self._walk(prefix, memo):
            yield name, module

    def get_parameters(self, grad_only: bool = False) -> "OrderedDict[str, Parameter]":
        """Every parameter of the tree under its hierarchical name, each once.

        Args:
            grad_only: Keep only parameters with ``need_grad=True`` that do not sit
                below a module whose ``need_grad`` is False.

        Returns:
            An OrderedDict in a stable order (a module's own parameters, then its
            children's, in registration order). A parameter shared by several modules
            appears once, under the first name that reaches it.
        """
        params: "OrderedDict[str, Parameter]" = OrderedDict()
        seen = set()
        for prefix, module, enabled in self._walk():
            for name, p in module._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if grad_only and not (enabled and p.need_grad):
                    continue
                params[_join(prefix, name)] = p
        return params

    def apply(self, memo: Optional[set] = None, **attrs: Any) -> "Module":
        """Set attributes such as ``training`` or ``need_grad`` on every module of the
        tree, and return ``self``."""
        for _, module in self.get_modules(memo=memo):
            for key, value in attrs.items():
                setattr(module, key, value)
        return self

    # ------------------------------------------------------------ saving and loading
    def set_parameters(self, params: Mapping[str, Any], strict: bool = True,
                       raise_if_missing: Optional[bool] = None,
                       source: str = "the given mapping") -> None:
        """Copy values into this tree's parameters by hierarchical name.

        Args:
            params: Name to ``nn.Variable`` or numpy array.
            strict: Refuse (and change nothing) when names are missing, unexpected or of
                another shape. With ``strict=False`` the matching names are copied and
                the rest ignored; shapes must still agree.
            raise_if_missing: Older spelling of ``strict``, kept for existing code.
            source: What to call ``params`` in error messages.

        Raises:
            ParameterLoadError: listing every missing, unexpected and mismatched name.
        """
        if raise_if_missing is not None:
            strict = raise_if_missing
        copy_parameters(self.get_parameters(), params, strict, source)

    def save_parameters(self, path: str, params: Optional[Mapping[str, nn.Variable]] = None,
                        grad_only: bool = False) -> None:
        """Save parameters in NNabla's format (``.h5`` or ``.protobuf``, by extension),
        as float32.

        The file is written to a temporary name and renamed, so an interrupted save
        never leaves a truncated file at ``path``.
        """
        save_parameter_file(path, self.get_parameters(grad_only) if params is None
                            else params)

    def load_parameters(self, path: str, strict: bool = True,
                        raise_if_missing: Optional[bool] = None) -> None:
        """Load parameters saved by :meth:`save_parameters` or NNabla's own
        ``nn.save_parameters``; see :meth:`set_parameters` for ``strict``.

        Loading does not touch NNabla's global parameter scope.
        """
        self.set_parameters(read_parameter_file(path), strict=strict,
                            raise_if_missing=raise_if_missing, source=repr(path))

    # ------------------------------------------------------------------ computation
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._record_inputs(*args)
        return self.call(*args, **kwargs)

    def _record_inputs(self, *args: Any) -> None:
        self.input_shapes = [tuple(x.shape) for x in args if isinstance(x, nn.Variable)]

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the module; subclasses override it."""
        raise NotImplementedError(f"{type(self).__name__} does not define call()")

    def folds_scale(self) -> bool:
        """Whether :meth:`call_scaled` folds its scale into this module's last function
        (an affine normalization), so that the scaled output needs no product, and no
        buffer, of its own. False unless a subclass says otherwise."""
        return False

    def call_scaled(self, input: nn.Variable, scale: nn.Variable) -> nn.Variable:
        """``scale * self(input)``, with ``scale`` a one-element variable: how
        :class:`~nnabla_nas.module.MixedOp` weights a candidate whose
        :meth:`folds_scale` is True. This default multiplies the output; modules that
        end in a normalization fold ``scale`` into its gamma and beta instead, which
        gives the same values and gradients without keeping the output for backward."""
        out = self(input)
        return out * F.reshape(scale, (1,) * out.ndim)

    # ---------------------------------------------------------------- representation
    def extra_repr(self) -> str:
        """The module's own settings, shown in its ``repr``."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, child in self._modules.items():
            child_lines = repr(child).split("\n")
            lines.append(f"({name}): {child_lines[0]}")
            lines.extend(child_lines[1:])
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        body = "\n".join("  " + line for line in lines)
        return f"{type(self).__name__}(\n{body}\n)"


@contextmanager
def training_mode(module: Module, mode: bool) -> Iterator[Module]:
    """Within the block, every module of ``module``'s tree has ``training=mode``; on
    exit (an exception included) each module gets back its own flag, so a tree whose
    modules were in different modes is left as it was.

    Example:
        >>> from nnabla_nas import module as Mo
        >>> net = Mo.Sequential(Mo.Dropout(0.5), Mo.ReLU())
        >>> net[0].training = False
        >>> with training_mode(net, False):
        ...     [m.training for _, m in net.get_modules()]
        [False, False, False]
        >>> [m.training for _, m in net.get_modules()]
        [True, False, True]
    """
    flags = [(m, m.training) for _, m in module.get_modules()]
    module.apply(training=bool(mode))
    try:
        yield module
    finally:
        for m, flag in flags:
            m.training = flag
