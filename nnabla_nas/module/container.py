"""Containers: `ModuleList`, `Sequential` and `ParameterList`."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator, Optional, Union

from .module import Module
from .parameter import Parameter


class _IndexedChildren:
    """Shared list behaviour over one of a module's registries, children named '0', '1'.
    """

    _kind: type = object

    def _registry(self) -> "OrderedDict[str, Any]":  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_item(self, index: int, item: Any) -> Any:
        if not isinstance(item, self._kind):
            raise TypeError(f"{type(self).__name__}: item {index}: expected a "
                            f"{self._kind.__name__}, got {type(item).__name__}")
        return item

    def _index(self, index: int) -> int:
        n = len(self)
        if not isinstance(index, int) or not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index!r} out of range for "
                             f"{n} items")
        return index % n

    def __len__(self) -> int:
        return len(self._registry())

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._registry().values()))

    def __getitem__(self, index: Union[int, slice]) -> Any:
        items = list(self._registry().values())
        if isinstance(index, slice):
            return type(self)(items[index])
        return items[self._index(index)]

    def __setitem__(self, index: int, item: Any) -> None:
        index = self._index(index)
        self._registry()[str(index)] = self._check_item(index, item)

    def append(self, item: Any):
        """Add ``item`` at the end and return the container."""
        self._registry()[str(len(self))] = self._check_item(len(self), item)
        return self

    def extend(self, items: Iterable[Any]):
        """Append every item of ``items`` and return the container."""
        for item in items:
            self.append(item)
        return self


class ModuleList(_IndexedChildren, Module):
    """A list of modules, registered as children named ``0``, ``1``, ...

    Args:
        modules: The initial modules.
    """

    _kind = Module

    def __init__(self, modules: Optional[Iterable[Module]] = None):
        self.extend(modules or [])

    def _registry(self) -> "OrderedDict[str, Module]":
        return self._modules

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} holds modules but has no "
                                  "computation; index it or use Sequential")


class Sequential(ModuleList):
    """Modules applied one after the other: ``Sequential(a, b)(x) == b(a(x))``.

    Args:
        *modules: The modules, in order; a single list or tuple of modules also works.
    """

    def __init__(self, *modules: Module):
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        super().__init__(modules)

    def call(self, *inputs: Any) -> Any:
        return self._run(list(self), inputs)

    @staticmethod
    def _run(modules, inputs: tuple) -> Any:
        out = inputs
        for module in modules:
            out = module(*out) if isinstance(out, tuple) else module(out)
        return out

    def folds_scale(self) -> bool:
        return len(self) > 0 and self[-1].folds_scale()

    def call_scaled(self, input, scale):
        """The last module's :meth:`~Module.call_scaled` on the others' output."""
        if not self.folds_scale():
            return super().call_scaled(input, scale)
        self._record_inputs(input)
        *first, last = list(self)
        return last.call_scaled(self._run(first, (input,)) if first else input, scale)


class ParameterList(_IndexedChildren, Module):
    """A list of parameters, registered as parameters named ``0``, ``1``, ...

    Args:
        parameters: The initial parameters.
    """

    _kind = Parameter

    def __init__(self, parameters: Optional[Iterable[Parameter]] = None):
        self.extend(parameters or [])

    def _registry(self) -> "OrderedDict[str, Parameter]":
        return self._parameters

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): {p!r}" for k, p in self._parameters.items())
