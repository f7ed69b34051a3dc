"""Hardware estimators: latency profiled on the target device.

Units: milliseconds for latency. Typical use::

    from nnabla_nas.contrib.estimator import LatencyEstimator
    est = LatencyEstimator(table="profile.json")   # CPU; table reused across runs
    est.calibrate()                                # once per device
    ms = est.get_estimation(net)                   # net was called once
"""
# Exports of the latency half; MemoryEstimator and the expected costs are merged here.
from .bundle import export_bundle, import_table
from .graph import LatencyGraphEstimator, graph_functions
from .latency import LatencyEstimator
from .measure import FunctionSpec, fit_calibration
from .profiler import Profiler, ProfileReport
from .table import ProfileTable, ProfileTableError

__all__ = [
    "LatencyEstimator", "LatencyGraphEstimator", "Profiler", "ProfileReport",
    "ProfileTable", "ProfileTableError", "FunctionSpec", "fit_calibration",
    "graph_functions", "export_bundle", "import_table",
]
