"""The black-box searchers (evolution, random): the Pareto front, reproducibility,
hard bounds, BN re-estimation, the supernet file, and resume after ``kill -9``."""
import doctest
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset import DataLoader, DatasetSplits, Split
from nnabla_nas.module import BatchNormalization
from nnabla_nas.runner import candidate as C
from nnabla_nas.runner.budget import BudgetError
from nnabla_nas.runner import pareto as pareto_module
from nnabla_nas.runner.pareto import pareto_front
from nnabla_nas.runner.run import Run
from nnabla_nas.runner.schema import SearchConfig
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.supernet import read_supernet, write_supernet
from nnabla_nas.utils.output import RunOutput
from tests.tensorboard_events import scalar_tags

ROOT = Path(__file__).resolve().parents[2]
SHAPE, CLASSES, BATCH = (1, 8, 8), 4, 8
SPACE = SEARCH_SPACES.get("proxylessnas")


def data() -> DatasetSplits:
    rng = np.random.RandomState(0)
    centres = rng.randn(CLASSES, *SHAPE)

    def split(n):
        y = np.arange(n) % CLASSES
        x = centres[y] + 0.5 * rng.randn(n, *SHAPE)
        return Split(x.astype(np.float32), y.reshape(n, 1).astype(np.int32))
    return DatasetSplits(split(4 * BATCH), split(2 * BATCH), split(BATCH), CLASSES, "toy")


def search_config(searcher, costs=None, section=None, **options):
    """The search section: ``searcher`` with ``options``, further keys of the section
    in ``section`` (``workers``...)."""
    return from_dict(SearchConfig, {
        "epochs": 1, "batch_size": BATCH,
        "space": {"name": "proxylessnas", **SPACE.smoke_options},
        "searcher": {"name": searcher, **options}, "costs": costs or {},
        **(section or {})}, "search")


def saved_supernet(folder, config):
    """A supernet of ``config``'s space (untrained, seeded) saved as the trainers do."""
    os.makedirs(folder, exist_ok=True)
    model = SPACE.build_search(config.space.options, SHAPE, CLASSES,
                               np.random.RandomState(7))
    return write_supernet(model, os.path.join(folder, "supernet.h5"), SPACE.name,
                          config.space.options, "spos", 1)


def run_search(tmp, name, searcher="evolution", costs=None, section=None, **options):
    config = search_config(searcher, costs, section, **options)
    output = RunOutput(str(tmp / name), {"test": name}, quiet=True)
    model = SPACE.build_search(config.space.options, SHAPE, CLASSES,
                               np.random.RandomState(0))
    s = SEARCHERS.get(searcher)(Run(model=model, data=data(), config=config,
                                    output=output, space=SPACE, quiet=True))
    try:
        arch = s.search()
    finally:
        output.close()
    return s, arch, tmp / name


def journal(folder):
    """The candidates of ``folder``'s journal, without their wall times."""
    lines = (Path(folder) / "candidates.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


# ------------------------------------------------------------------------ Pareto
def test_pareto_front_of_a_fixed_list_of_points():
    accuracy = [0.90, 0.80, 0.85, 0.70, 0.90, 0.95, 0.80]
    costs = [[2.0, 5.0], [1.0, 5.0], [1.0, 6.0], [0.5, 9.0], [2.0, 4.0], [3.0, 3.0],
             [1.0, 5.0]]
    # 0 is dominated by 4 (as accurate, cheaper in the second cost); 6 equals 1 (both
    # kept); 2 is cheaper than 1 in no cost but more accurate: kept.
    assert pareto_front(accuracy, costs) == [1, 2, 3, 4, 5, 6]
    assert pareto_front([0.5, 0.7, 0.7], [[], [], []]) == [1, 2]
    assert pareto_front([0.9, 0.8, 0.7, 0.9], [[3.0], [1.0], [2.0], [4.0]]) == [0, 1]
    assert doctest.testmod(pareto_module).failed == 0


# ------------------------------------------------------------- the searchers
def test_evolution_with_a_fixed_seed_is_reproducible_and_writes_its_outputs(tmp_path):
    config = search_config("evolution")
    weights = saved_supernet(str(tmp_path / "sn"), config)
    options = dict(evaluations=6, population=3, sample_size=2, bn_batches=1, top_k=2,
                   supernet_path=weights)
    costs = {"memory": {"weight": 0.0, "mode": "hard", "bound": 3000}}
    a, arch_a, out_a = run_search(tmp_path, "a", costs=costs, **options)
    b, arch_b, out_b = run_search(tmp_path, "b", costs=costs, **options)
    assert journal(out_a) == journal(out_b) and len(journal(out_a)) == 6
    assert arch_a == arch_b
    # The population's children are mutations of one choice of an earlier candidate.
    cands = journal(out_a)
    for c in cands[3:]:
        assert any(sum(c["arch"][k] != p["arch"][k] for k in c["arch"]) == 1
                   for p in cands[:c["index"]])
    best = max(cands, key=lambda c: (c["accuracy"], -c["index"]))
    assert json.loads((out_a / "arch.json").read_text())["choices"] == best["arch"]
    assert a.summary_values()["chosen_candidate"] == best["index"]
    assert sorted(os.listdir(out_a / "top_k")) == ["arch_1.json", "arch_2.json"]
    rows = (out_a / "pareto.csv").read_text().splitlines()
    assert rows[0] == "index,accuracy,memory,seconds,arch,on_front" and len(rows) == 7
    assert (out_a / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    runs = sorted(p.name for p in (out_a / "tensorboard").iterdir() if p.is_dir())
    assert runs == [f"candidate_{i:05d}" for i in range(6)]  # one HParams row each
    assert scalar_tags(out_a / "tensorboard" / runs[0]) == {"hparam/accuracy",
                                                            "hparam/memory"}


def test_every_candidate_is_within_every_bound(tmp_path):
    config = search_config("random")
    model = SPACE.build_search(config.space.options, SHAPE, CLASSES,
                               np.random.RandomState(0))
    # Bounds at the median of 40 random architectures: about a quarter meets both.
    probe = search_config("random", {"memory": {"weight": 1e-3},
                                     "latency": {"weight": 1e-3}})
    output = RunOutput(str(tmp_path / "probe"), {"test": "probe"}, quiet=True)
    s = SEARCHERS.get("random")(Run(model=model, data=data(), config=probe, output=output,
                                    space=SPACE, quiet=True))
    rng = np.random.RandomState(3)
    sampled = [s.costs(SPACE.sample(s.arch_options, rng)) for _ in range(40)]
    output.close()
    bound = {k: float(np.median([c[k] for c in sampled])) for k in ("memory", "latency")}
    costs = {k: {"mode": "hard", "bound": v} for k, v in bound.items()}
    weights = saved_supernet(str(tmp_path / "sn"), config)
    s, _, out = run_search(tmp_path, "bounded", "random", costs, evaluations=8,
                           bn_batches=0, supernet_path=weights)
    cands = journal(out)
    assert len(cands) == 8
    for c in cands:
        assert all(c["costs"][k] <= bound[k] for k in bound), c
        # The recorded cost is the architecture's own, recomputed here.
        arch = SPACE.validate(Architecture(SPACE.name, s.arch_options, c["arch"]))
        assert s.costs(arch) == c["costs"]
    assert sum(c["draws"] for c in cands) > len(cands)  # some draws were over a bound


def test_inherited_accuracy_reestimates_bn_and_restores_the_supernet(tmp_path):
    config = search_config("random")
    weights = saved_supernet(str(tmp_path / "sn"), config)
    s, _, _ = run_search(tmp_path, "r", "random", evaluations=1, bn_batches=2,
                         supernet_path=weights)
    before = {k: v.d.copy() for k, v in s.model.get_parameters().items()}
    arch = SPACE.sample(s.arch_options, np.random.RandomState(1))
    with_bn = C.inherited_accuracy(s, SPACE, arch, 2, 0)
    assert C.inherited_accuracy(s, SPACE, arch, 2, 0) == with_bn  # deterministic
    # The batches are drawn once per loop: those of a fresh seeded loader, reused.
    batches = C.reestimation_batches(s, 2, 0)
    assert C.reestimation_batches(s, 2, 0) is batches
    with DataLoader(s.data.train, s.batch_size, shuffle=True, seed=0,
                    drop_last=True) as loader:
        assert all(np.array_equal(b, loader.next_batch()[0]) for b in batches)
    assert not np.array_equal(C.reestimation_batches(s, 2, 1)[0], batches[0])
    after = s.model.get_parameters()
    assert all(np.array_equal(before[k], after[k].d) for k in before)
    norms = [m for _, m in s.model.get_modules() if isinstance(m, BatchNormalization)]
    assert norms and all(m._decay_rate == 0.9 for m in norms)


def test_population_larger_than_the_space_and_infeasible_bounds_are_refused(tmp_path):
    config = search_config("evolution", population=10**6, sample_size=2)
    with pytest.raises(ConfigError, match=r"^search\.searcher\.population: 1000000 is "
                                          r"larger than the search space \(\d+ arch"):
        SEARCHERS.get("evolution").check_inputs(config, data())
    config = search_config("random", {"memory": {"mode": "hard", "bound": 10},
                                      "latency": {"mode": "hard", "bound": 1e-6}})
    # One line: every bound below the cheapest architecture, with its cheapest cost.
    with pytest.raises(BudgetError, match=r"^search\.costs\.memory\.bound, search\.costs"
                                          r"\.latency\.bound: below the cheapest .*: "
                                          r"memory \d+ parameters \(bound 10\); "
                                          r"latency [\d.e-]+ ms \(bound 1e-06\)$"):
        SEARCHERS.get("random").check_inputs(config, data())


def test_a_supernet_of_another_space_or_options_is_refused(tmp_path):
    config = search_config("evolution")
    weights = saved_supernet(str(tmp_path / "sn"), config)
    other = from_dict(SearchConfig, {"space": {"name": "proxylessnas", **dict(
        SPACE.smoke_options, head_channels=32)}}, "search")
    with pytest.raises(ConfigError, match=r"^k: a supernet built with other options .*"
                                          r"search\.space\.head_channels"):
        read_supernet(weights, SPACE.name, other.space.options, "k")
    with pytest.raises(ConfigError, match=r"^k: a supernet of the space 'proxylessnas', "
                                          r"expected one of 'darts'"):
        read_supernet(weights, "darts", other.space.options, "k")
    with open(weights, "ab") as f:
        f.write(b"changed")
    with pytest.raises(ConfigError, match="sha256"):
        read_supernet(weights, SPACE.name, config.space.options, "k")


# --------------------------------------------------------------- kill -9 resume
def chain_config(tmp, weights, evaluations):
    data = {"seed": 3, "quiet": True,
            "dataset": {"name": "digits", "valid_fraction": 0.2, "test_fraction": 0.2},
            "search": {"epochs": 1, "batch_size": 32,
                       "space": {"name": "proxylessnas", **SPACE.smoke_options},
                       "searcher": {"name": "evolution", "evaluations": evaluations,
                                    "population": 4, "sample_size": 2, "bn_batches": 2,
                                    # one child at a time: the journal grows line by
                                    # line, so a kill lands between two candidates
                                    "round_size": 1, "supernet_path": weights},
                       "costs": {"memory": {"mode": "hard", "bound": 2500}}}}
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_resume_after_kill_9_gives_the_same_candidates_and_choice(tmp_path):
    config = search_config("evolution")
    model = SPACE.build_search(config.space.options, (1, 8, 8), 10,
                               np.random.RandomState(7))
    os.makedirs(tmp_path / "sn")
    weights = write_supernet(model, str(tmp_path / "sn" / "supernet.h5"), SPACE.name,
                             config.space.options, "spos", 1)
    total = 14
    path = chain_config(tmp_path, weights, total)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, str(ROOT / "main.py"), "search", "--config", str(path)]
    # Uninterrupted reference.
    subprocess.run(cmd + ["--output-path", str(tmp_path / "ref")], env=env, check=True,
                   capture_output=True, timeout=600)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--output-path", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if (killed / "candidates.jsonl").exists():
            done = len((killed / "candidates.jsonl").read_text().splitlines())
            if done >= 5:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= len(journal(killed)) < total  # killed in the middle of evolution
    subprocess.run(cmd + ["--output-path", str(killed)], env=env, check=True,
                   capture_output=True, timeout=600)
    assert journal(killed) == journal(tmp_path / "ref") and len(journal(killed)) == total
    assert (killed / "arch.json").read_text() == (tmp_path / "ref" / "arch.json").read_text()
    ref = json.loads((tmp_path / "ref" / "summary.json").read_text())
    again = json.loads((killed / "summary.json").read_text())
    assert again["chosen_candidate"] == ref["chosen_candidate"]


@pytest.mark.slow
def test_one_config_trains_a_supernet_searches_it_and_retrains_the_top_two(tmp_path):
    data = {"seed": 0, "quiet": True,
            "dataset": {"name": "digits", "valid_fraction": 0.2, "test_fraction": 0.2},
            "search": {"epochs": 1, "batch_size": 32,
                       "space": {"name": "proxylessnas", **SPACE.smoke_options},
                       "searcher": {"name": "evolution", "supernet": "fairnas",
                                    "evaluations": 6, "population": 3, "sample_size": 2,
                                    "bn_batches": 1, "top_k": 2},
                       "costs": {"flops": {"mode": "hard", "bound": 1.2e5},
                                 "memory": {"mode": "hard", "bound": 4000}}},
            "train": {"epochs": 1, "batch_size": 32, "top_k": 2,
                      "net": {"name": "proxylessnas"}}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(path),
                    "--output-path", str(out)], env=env, check=True, capture_output=True,
                   timeout=900)
    meta = json.loads((out / "supernet.json").read_text())
    assert meta["trainer"] == "fairnas" and meta["space"] == "proxylessnas"
    cands = journal(out)
    assert len(cands) == 6
    assert all(c["costs"]["flops"] <= 1.2e5 and c["costs"]["memory"] <= 4000
               for c in cands)
    summary = json.loads((out / "summary.json").read_text())
    chosen = cands[summary["chosen_candidate"]]
    assert chosen["accuracy"] == max(c["accuracy"] for c in cands)
    assert json.loads((out / "arch.json").read_text())["choices"] == chosen["arch"]
    assert summary["pareto_front_size"] >= 1 and (out / "network.nnp").exists()
    assert [r["rank"] for r in summary["retrained"]] == [2]
    second = json.loads((out / "retrain" / "2" / "summary.json").read_text())
    assert second["arch_path"] == str(out / "top_k" / "arch_2.json")
    assert (out / "retrain" / "2" / "network.nnp").exists()
