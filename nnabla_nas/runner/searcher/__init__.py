"""Searchers: algorithms that find an architecture in a search space.

One searcher per file; each registers itself in :data:`SEARCHERS` when imported, and
:mod:`nnabla_nas.builtins` imports the built-in ones.
"""
from ...registry import Registry

#: Searchers by name; each entry is a :class:`~.search.Searcher` subclass.
SEARCHERS = Registry("searcher")
