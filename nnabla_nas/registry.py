"""Registries: components created by name, with helpful errors for unknown names.

One registry per kind of extension (search spaces, searchers, datasets, candidate
operations, ...). Register with a decorator and look up with :meth:`Registry.get`::

    DATASETS = Registry("dataset")

    @DATASETS.register("digits")
    class Digits: ...

    DATASETS.get("digts")  # KeyError: unknown dataset 'digts'; did you mean 'digits'?
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Optional, TypeVar

from .utils.files import MAX_QUOTE, quote

T = TypeVar("T")


class Registry:
    """A named collection of components of one kind.

    Args:
        kind: What the components are, used in messages ("search space", "dataset").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, object] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering its target under ``name``; a second registration of
        the same name is an error."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} registry: name must be a non-empty string, "
                             f"got {name!r}")

        def decorator(obj: T) -> T:
            if name in self._items:
                raise KeyError(f"{self.kind} '{name}' is already registered "
                               f"(by {self._items[name]!r})")
            self._items[name] = obj
            return obj

        return decorator

    @contextmanager
    def temporarily(self, name: str, obj: T) -> Iterator[T]:
        """Register ``obj`` as ``name`` for the duration of a ``with`` block (tests,
        experiments); it is unregistered on exit, even after an error::

            with ESTIMATORS.temporarily("layers", LayerCount):
                ...
        """
        self.register(name)(obj)
        try:
            yield obj
        finally:
            if self._items.get(name) is obj:
                del self._items[name]

    def closest(self, name: str, among: Optional[Iterable[str]] = None) -> Optional[str]:
        """The registered name (or name of ``among``) most similar to ``name``, if any
        is close."""
        if len(str(name)) > MAX_QUOTE:  # no name is that long; and difflib is quadratic
            return None
        names = list(self._items if among is None else among)
        matches = difflib.get_close_matches(str(name), names, n=1, cutoff=0.5)
        return matches[0] if matches else None

    def unknown_message(self, name: str, among: Optional[Iterable[str]] = None) -> str:
        """The message for an unknown name: valid names and the closest one; with
        ``among``, only those names are valid here."""
        names = sorted(self._items if among is None else among)
        hint = self.closest(name, names)
        return (f"unknown {self.kind} {quote(name)}"
                + (f"; did you mean {hint!r}?" if hint else "")
                + f" Valid names: {', '.join(names) or '(none)'}")

    def get(self, name: str):
        """The component registered under ``name``.

        Raises:
            KeyError: naming the bad name, the valid names and the closest match.
        """
        if name not in self._items:
            raise KeyError(self.unknown_message(name))
        return self._items[name]

    def names(self) -> List[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
