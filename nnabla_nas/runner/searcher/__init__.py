"""Searchers: algorithms that find an architecture in a search space.

One searcher per file; each registers itself in :data:`SEARCHERS`.
"""
from ...registry import Registry

#: Searchers by name; each entry is a :class:`~.search.Searcher` subclass.
SEARCHERS = Registry("searcher")

# Built-in searchers register themselves on import.
from . import darts as _darts  # noqa: E402,F401
from . import pnas as _pnas  # noqa: E402,F401
