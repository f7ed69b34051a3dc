"""Where nnabla-nas keeps what it measured about this machine between runs.

The folder is ``$NNABLA_NAS_CACHE`` if set, else ``$XDG_CACHE_HOME/nnabla-nas``, else
``~/.cache/nnabla-nas``. Nothing is created here: callers create what they write, when
they write it. The test suite points ``NNABLA_NAS_CACHE`` at a temporary folder.
"""
from __future__ import annotations

import os

#: The environment variable that overrides the cache folder.
CACHE_ENV = "NNABLA_NAS_CACHE"


def cache_folder() -> str:
    """The absolute path of the user's nnabla-nas cache folder (it may not exist yet).
    """
    folder = os.environ.get(CACHE_ENV)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "nnabla-nas")
    return os.path.abspath(os.path.expanduser(folder))
