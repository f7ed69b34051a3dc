"""``python -m nnabla_nas.contrib.estimator export OUT ...``: see :mod:`.bundle`.

An entry point, like ``main.py``: it registers the built-in components (``--space``
names one) by importing :mod:`nnabla_nas.builtins`, and a user's own from the modules
``NNABLA_NAS_PLUGINS`` names.
"""
import sys

from ... import builtins  # noqa: F401
from ...config.fields import ConfigError
from ...config.plugins import import_env_plugins
from .bundle import main

try:
    import_env_plugins()
except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
sys.exit(main())
