"""Black-box candidates scored by several workers (``search.workers``,
``search.executor``): the same search as one worker, whatever the executor; a worker
killed during a candidate (the test hook of :mod:`nnabla_nas.runner.executor.worker`)
retried once, then its candidate recorded as failed and never chosen."""
import dataclasses
import json
import os
from types import SimpleNamespace

import pytest

from nnabla_nas.runner.candidate import score
from nnabla_nas.runner.executor import MAX_ATTEMPTS, Task
from nnabla_nas.runner.executor.worker import KILL_HOOK, Worker, kill_plan
from nnabla_nas.runner.searcher.evolution import EvolutionSearcher
from tests.runner.test_blackbox import journal, run_search, saved_supernet, search_config

#: A tiny evolution on a saved supernet: 3 random candidates, then rounds of 2 children.
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


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The evolution searched in this process (one worker), the reference: its
    searcher, folder and options."""
    tmp = tmp_path_factory.mktemp("alone")
    options = dict(EVOLUTION, supernet_path=saved_supernet(str(tmp / "sn"),
                                                            search_config("evolution")))
    s, folder = search(tmp, "alone", "evolution", **options)
    assert len(journal(folder)) == 7 and s.summary_values()["retried_candidates"] == 0
    return s, folder, options


def test_a_worker_trains_a_candidate_as_the_search_does(alone):
    s, folder, _ = alone
    job = dataclasses.replace(s.candidate_job(), evaluate="train", train_epochs=1)
    choices = journal(folder)[5]["arch"]
    worker = Worker(job)  # in this process, with a supernet of its own
    outcome = worker.run(Task(5, choices))
    assert outcome.error is None and outcome.accuracy == score(job, s, 5, choices)


def test_local_workers_search_as_one_and_a_killed_worker_is_retried_then_failed(
        alone, tmp_path, monkeypatch):
    _, alone, options = alone
    # Two worker processes; one dies on candidate 1 (retried) and on both attempts at
    # candidate 6, the last (failed; the search goes on, and no proposal reads it).
    monkeypatch.setenv(KILL_HOOK, "1,6:2")
    s, out = search(tmp_path, "two", "evolution", workers=2, **options)
    got, expected = journal(out), journal(alone)
    failure = got[6].pop("failed")
    assert got[6]["accuracy"] is None and expected[6]["accuracy"] is not None
    assert "died on each of 2 attempts" in failure and "SIGKILL" in failure
    got[6]["accuracy"] = expected[6]["accuracy"]
    assert got == expected  # the rest as one worker found it, in candidate order
    assert s.chosen.index != 6 and s.summary_values()["failed_candidates"] == 1
    assert s.summary_values()["retried_candidates"] == 2  # 1 once, 6 once
    assert len((out / "pareto.csv").read_text().splitlines()) == 1 + 6
    assert sorted(os.listdir(out)) == sorted(os.listdir(alone))  # workers wrote none
    # A rerun resumes from the journal: nothing left to score, the failure kept.
    lines = (out / "candidates.jsonl").read_text()
    monkeypatch.delenv(KILL_HOOK)
    again, _ = search(tmp_path, "two", "evolution", workers=2, **options)
    assert (out / "candidates.jsonl").read_text() == lines
    assert again.chosen.index == s.chosen.index
    assert json.loads(lines.splitlines()[6])["failed"] == failure


def test_ray_workers_search_as_one_and_a_killed_worker_is_retried(alone, tmp_path,
                                                                  monkeypatch):
    _, alone, options = alone
    ray = pytest.importorskip("ray")
    monkeypatch.setenv(KILL_HOOK, "4")  # inherited by the Ray workers started below
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    try:
        s, out = search(tmp_path, "ray", "evolution", workers=2, executor="ray",
                        **options)
        assert ray.is_initialized()  # a connection made by the caller is left open
    finally:
        ray.shutdown()
    same_search(alone, out)
    assert s.summary_values()["retried_candidates"] == 1
