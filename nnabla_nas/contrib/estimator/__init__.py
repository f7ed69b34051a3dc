"""Hardware estimators: latency profiled on the target device, and memory.

Units: milliseconds for latency, parameters or bytes for memory. Typical use::

    from nnabla_nas.contrib.estimator import LatencyEstimator
    est = LatencyEstimator(table="profile.json")   # CPU; table reused across runs
    est.calibrate()                                # once per device
    ms = est.get_estimation(net)                   # net was called once
"""
from .base import ESTIMATORS, Estimator, active_modules
from .bundle import export_bundle, import_table
from .expected import PathCosts, expected_cost
from .graph import LatencyGraphEstimator, graph_functions
from .latency import LatencyEstimator
from .measure import FunctionSpec, fit_calibration
from .memory import MemoryEstimator
from .profiler import Profiler, ProfileReport
from .table import ProfileTable, ProfileTableError

__all__ = [
    "ESTIMATORS", "Estimator", "active_modules", "MemoryEstimator", "expected_cost",
    "PathCosts",
    "LatencyEstimator", "LatencyGraphEstimator", "Profiler", "ProfileReport",
    "ProfileTable", "ProfileTableError", "FunctionSpec", "fit_calibration",
    "graph_functions", "export_bundle", "import_table",
]
