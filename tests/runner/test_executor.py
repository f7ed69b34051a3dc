"""Black-box candidates scored by several workers (``search.workers``,
``search.executor``): the same search as one worker, whatever the executor; a worker
killed during a candidate (the test hook of :mod:`nnabla_nas.runner.executor.worker`)
retried once, then its candidate recorded as failed and never chosen."""
import dataclasses
import json
import os
from types import SimpleNamespace

import pytest

from nnabla_nas.runner.executor import MAX_ATTEMPTS
from nnabla_nas.runner.executor.worker import KILL_HOOK, kill_plan
from nnabla_nas.runner.searcher.evolution import EvolutionSearcher
from tests.runner.test_blackbox import journal, run_search, saved_supernet, search_config

#: A tiny evolution: 3 random candidates, then rounds of 2 children.
EVOLUTION = dict(evaluations=7, population=3, sample_size=2, round_size=2, bn_batches=1)


def search(tmp, name, searcher, workers=1, executor="local", **options):
    """Run a search of the tiny space into ``tmp/name``; the searcher and the folder."""
    s, _, folder = run_search(tmp, name, searcher, section=dict(
        workers=workers, executor=executor), **options)
    return s, folder


def same_search(a, b):
    """Equal journals (apart from wall times) and choices."""
    assert journal(a) == journal(b)
    assert (a / "arch.json").read_text() == (b / "arch.json").read_text()
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))  # workers wrote nothing


def test_evolution_proposes_each_round_from_the_candidates_before_it():
    options = search_config("evolution", **EVOLUTION).searcher.options
    me = SimpleNamespace(options=options)  # ready_before reads the options only
    ready = [EvolutionSearcher.ready_before(me, i) for i in range(9)]
    assert ready == [0, 0, 0, 3, 3, 5, 5, 7, 7]  # population 3, then rounds of 2
    one = SimpleNamespace(options=dataclasses.replace(options, round_size=1))
    assert [EvolutionSearcher.ready_before(one, i) for i in range(5)] == [0, 0, 0, 3, 4]


def test_the_kill_hook_is_parsed():
    assert kill_plan("") == {} and kill_plan("3") == {3: 1}
    assert kill_plan("1, 4:2") == {1: 1, 4: 2} and MAX_ATTEMPTS == 2


def test_local_workers_search_as_one_and_a_killed_worker_is_retried_then_failed(
        tmp_path, monkeypatch):
    # Random search, candidates trained from scratch: in this process, then by two
    # worker processes, one of which dies on candidate 1 (retried) and on both
    # attempts at candidate 2 (failed; the search goes on).
    options = dict(evaluations=4, evaluate="train", train_epochs=1)
    one, alone = search(tmp_path, "alone", "random", **options)
    monkeypatch.setenv(KILL_HOOK, "1,2:2")
    s, out = search(tmp_path, "two", "random", workers=2, **options)
    got, expected = journal(out), journal(alone)
    failure = got[2].pop("failed")
    assert got[2]["accuracy"] is None and expected[2]["accuracy"] is not None
    assert "died on each of 2 attempts" in failure and "SIGKILL" in failure
    got[2]["accuracy"] = expected[2]["accuracy"]
    assert got == expected  # the rest as one worker found it, in candidate order
    assert s.chosen.index != 2 and s.summary_values()["failed_candidates"] == 1
    assert s.summary_values()["retried_candidates"] == 2  # 1 once, 2 once
    assert one.summary_values()["retried_candidates"] == 0
    assert len((out / "pareto.csv").read_text().splitlines()) == 1 + 3
    assert sorted(os.listdir(out)) == sorted(os.listdir(alone))  # workers wrote none
    # A rerun resumes from the journal: nothing left to score, the failure kept.
    lines = (out / "candidates.jsonl").read_text()
    monkeypatch.delenv(KILL_HOOK)
    again, _ = search(tmp_path, "two", "random", workers=2, **options)
    assert (out / "candidates.jsonl").read_text() == lines
    assert again.chosen.index == s.chosen.index
    assert json.loads(lines.splitlines()[2])["failed"] == failure


def test_ray_workers_search_as_one_and_a_killed_worker_is_retried(tmp_path,
                                                                  monkeypatch):
    ray = pytest.importorskip("ray")
    weights = saved_supernet(str(tmp_path / "sn"), search_config("evolution"))
    one, alone = search(tmp_path, "alone", "evolution", supernet_path=weights,
                        **EVOLUTION)
    assert len(journal(alone)) == 7
    monkeypatch.setenv(KILL_HOOK, "4")  # inherited by the Ray workers started below
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    try:
        s, out = search(tmp_path, "ray", "evolution", workers=2, executor="ray",
                        supernet_path=weights, **EVOLUTION)
        assert ray.is_initialized()  # a connection made by the caller is left open
    finally:
        ray.shutdown()
    same_search(alone, out)
    assert s.summary_values()["retried_candidates"] == 1
    assert one.summary_values()["retried_candidates"] == 0
