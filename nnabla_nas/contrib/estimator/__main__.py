"""``python -m nnabla_nas.contrib.estimator export OUT ...``: see :mod:`.bundle`.

An entry point, like ``main.py``: it registers the built-in components (``--space``
names one) by importing :mod:`nnabla_nas.builtins`.
"""
import sys

from ... import builtins  # noqa: F401
from .bundle import main

sys.exit(main())
