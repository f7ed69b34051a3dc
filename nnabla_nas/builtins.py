"""The built-in components, registered by importing each of their modules once.

Every component registers itself with its registry's decorator when its module is
imported; this module imports all the built-in ones, and the entry points
(:mod:`nnabla_nas.cli`, hence ``main.py``, and ``python -m
nnabla_nas.contrib.estimator``) import this module. Nothing else does: a registry's
module (``contrib/spaces.py``, ``runner/searcher/__init__.py``, ...) does not import the
components registered in it, so imports run one way (``tests/test_layers.py``).

Library code that looks components up by name (``SEARCH_SPACES.get("darts")``, or a
config validated with :func:`nnabla_nas.commands.load_config`) imports it first::

    import nnabla_nas.builtins  # noqa: F401

Importing a component's module directly (``from nnabla_nas.runner.searcher.darts
import DartsSearcher``) registers that component too. A user's own components are
registered the same way, by modules named in a config's ``plugins:`` or in the
``NNABLA_NAS_PLUGINS`` environment variable (:mod:`nnabla_nas.config.plugins`).
"""
# Search spaces.
from .contrib.darts import space as darts_space  # noqa: F401
from .contrib.pnas import space as pnas_space  # noqa: F401
from .contrib import nasbench101, nasbench201, random_wired, zoph  # noqa: F401
# Searchers.
from .runner.searcher import darts as darts_searcher  # noqa: F401
from .runner.searcher import pnas as pnas_searcher  # noqa: F401
from .runner.searcher import fairnas, spos  # noqa: F401
from .runner.searcher import evolution, random_search  # noqa: F401
# Executors of the black-box searchers' candidates.
from .runner.executor import local, ray_cluster  # noqa: F401  (imports no ray)
# Zero-cost proxies.
from .contrib.proxies import baseline, gradient, naswot, synflow  # noqa: F401
# Estimators.
from .contrib.estimator import graph, latency, memory  # noqa: F401
from .contrib.estimator import flops, activation  # noqa: F401  (after: summary order)
# Datasets.
from .dataset import cifar10, digits, image_folder  # noqa: F401
# Commands, in the order of a session (``main.py --help`` lists them so).
from .commands import search, train, derive, estimate, score, calibrate, export, \
    listing  # noqa: F401,E402
