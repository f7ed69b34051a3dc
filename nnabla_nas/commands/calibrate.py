"""``main.py calibrate``: calibrate this device's latency table now, or show that it is.

Latency estimates calibrate themselves on first use (``calibrate: auto`` of the latency
cost); this command does it explicitly, before a search, or again with ``--force``.
"""
from __future__ import annotations

import argparse
import json
import os
from collections import OrderedDict
from typing import Optional

from ..contrib.estimator.latency import LatencyEstimator
from ..contrib.estimator.measure import (calibration_summary, competing_load,
                                         describe_fingerprint)
from ..contrib.estimator.ort_profiler import make_profiler
from ..contrib.estimator.profiler import IN_MEMORY
from ..contrib.estimator.table import ProfileTable, default_table_path
from ..utils.context import DEVICES, Device
from .base import COMMANDS, Command, UsageError, print_values


@COMMANDS.register("calibrate")
class Calibrate(Command):
    """Calibrate the latency estimator's profile table of this device.

    Profiles the functions of a few seeded networks, measures the networks end to end
    and stores the fitted calibration, with the device's fingerprint, in the profile
    table: this device's table in the user's cache folder ($NNABLA_NAS_CACHE, else
    $XDG_CACHE_HOME/nnabla-nas or ~/.cache/nnabla-nas) by default, or --table. A table
    that is calibrated already is reused unless --force, which times every function and
    the calibration again (on an idle machine: timings taken under load are too high)
    and replaces the table; one made on another device or NNabla version in the cache
    folder is replaced. Exit status 0 when the table is calibrated, 2 for a user error
    (a --table of another device, a missing folder).
    """

    epilog = """
    examples:
      python main.py calibrate
      python main.py calibrate --force --json
      python main.py calibrate --table board_profile.json
    """

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--context", "--device", choices=list(DEVICES),
                            default="cpu", help="the device to calibrate (cpu)")
        parser.add_argument("--device-id", type=int, default=0, metavar="ID",
                            help="the GPU of the cudnn context (0)")
        parser.add_argument("--table", metavar="PROFILE_JSON", default=None,
                            help="the profile table to calibrate (created if missing; "
                            "default: this device's table in the cache folder)")
        parser.add_argument("--force", action="store_true",
                            help="time every function and calibrate again, replacing the "
                            "table (even a --table made on another device)")
        parser.add_argument("--json", action="store_true",
                            help="print the result as one JSON object")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if not 0 <= args.device_id <= 1023:
            raise UsageError(f"--device-id: expected an integer from 0 to 1023, got "
                             f"{args.device_id}")
        Device(args.context, args.device_id)  # a missing extension: DeviceError
        table = args.table
        if table is not None:
            folder = os.path.dirname(os.path.abspath(table))
            if not os.path.isdir(folder):
                raise UsageError(f"--table {table}: folder {folder} does not exist")
        if args.force:
            table = fresh_table(args.context, args.device_id, table)
        estimator = LatencyEstimator(context=args.context, device_id=args.device_id,
                                     table=table,
                                     calibrate_mode="always" if args.force else "auto")
        path = estimator.table.path
        load = competing_load()
        estimator.ensure_calibrated()
        ran = estimator.last_calibration
        load = load or competing_load()
        result = OrderedDict(
            device=describe_fingerprint(estimator.table.fingerprint),
            table=os.path.abspath(path),
            calibrated=estimator.calibrated,
            calibrated_now=ran is not None)
        if ran is not None:
            result["seconds"] = round(ran["seconds"], 2)
        result.update(calibration_summary(estimator.calibration))
        if ran is not None and load:
            result["warning"] = (f"calibrated under {load}: timings of a shared CPU are "
                                 "too high for the device alone; rerun with --force on "
                                 "an idle machine")
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_values(result)
        return 0


def fresh_table(context: str, device_id: int, path: Optional[str]) -> ProfileTable:
    """An empty table of this device that replaces the file at ``path`` (default:
    the device's table in the cache folder) on its first save: with ``--force`` every
    function is timed again, not only the calibration, since timings taken under
    another load (or another device's, in that file) would skew the fit."""
    profiler = make_profiler(context, device_id, IN_MEMORY)
    if path is None:
        path = default_table_path(context, device_id, runtime=profiler.runtime)
        os.makedirs(os.path.dirname(path), exist_ok=True)
    table = ProfileTable(profiler.fingerprint, path, profiler.statistic)
    table.replaces = "calibrate --force: every timing taken again"
    return table
