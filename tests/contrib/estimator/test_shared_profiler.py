"""A latency estimator of a data-parallel job profiles on rank 0 only and shares the
timings (:meth:`Profiler.share`): checked in one process by recording what rank 0
broadcasts and replaying it to a rank 1, which must time nothing and price alike."""
from __future__ import annotations

from typing import Any, List

import pytest

from nnabla_nas.contrib.estimator.profiler import Profiler
from nnabla_nas.utils.communicator import SingleProcess

from .helpers import fast_estimator, small_block


class Rank(SingleProcess):
    """Rank ``rank`` of 2: rank 0 records what it broadcasts, rank 1 receives it."""

    def __init__(self, rank: int, received: List[Any]):
        self.rank, self.size, self.received = rank, 2, received

    def bcast_object(self, obj: Any, root: int = 0) -> Any:
        if self.rank == 0:
            self.received.append(obj)
            return obj
        return self.received.pop(0)


def test_rank_one_times_nothing_and_prices_as_rank_zero(monkeypatch):
    sent: List[Any] = []
    zero = fast_estimator()
    zero.profiler.table.put("already/known", 1.5, 3)  # rank 0's table is shared first
    zero.profiler.share(Rank(0, sent))
    block = small_block()
    ms = zero.get_estimation(block)
    assert zero.profiler.profiled > 0 and len(sent) >= 2

    one = fast_estimator()

    def no_timing(*args, **kwargs):
        raise AssertionError("rank 1 timed a function")

    monkeypatch.setattr(Profiler, "time_functions", no_timing)
    one.profiler.share(Rank(1, list(sent)))
    assert one.profiler.table.get("already/known") == 1.5
    assert one.get_estimation(small_block()) == ms
    assert one.profiler.profiled == 0
    assert sorted(one.profiler.table) == sorted(zero.profiler.table)


def test_one_process_shares_nothing():
    profiler = Profiler(table=":memory:", warmup=0, repeats=1)
    times = profiler.times
    assert profiler.share(SingleProcess()) is profiler and profiler.times == times
    assert profiler.share(None).comm is None


@pytest.mark.parametrize("method", ["graph_samples", "network_samples"])
def test_whole_network_timings_come_from_rank_zero(method):
    sent: List[Any] = []
    Profiler(table=":memory:").share(Rank(0, sent))  # rank 0's table
    profiler = Profiler(table=":memory:", warmup=0, repeats=1)
    profiler.share(Rank(1, sent + [[[0.25, 0.5]]]))  # then rank 0's samples
    assert getattr(profiler, method)([], 0, 1) == [[0.25, 0.5]]
