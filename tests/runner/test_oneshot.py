"""The one-shot supernet trainers: SPOS trains one seeded uniform path per step,
FairNAS every candidate of every choice exactly once per step with one update, both
write supernet.h5 + supernet.json, resume after kill -9 exactly, and refuse a space
without labelled choices naming the key."""
import json

import h5py
import nnabla as nn
import numpy as np
import pytest
import yaml

from nnabla_nas.cli import main
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset.base import DATASETS
from nnabla_nas.module import MixedOp
from nnabla_nas.runner.run import Run
from nnabla_nas.runner.schema import SearchConfig
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.searcher.fairnas import fair_orders
from nnabla_nas.runner.supernet import file_sha256, read_supernet
from nnabla_nas.utils.output import RunOutput
from tests.test_contract import BATCH, CLASSES, SHAPE, ChainNet, ChainSpace, data
from tests.test_resume import run_and_kill, run_to_end


def trainer(tmp_path, searcher, space_name="chain", seed=0, splits=None, **search):
    space = SEARCH_SPACES.get(space_name)
    splits = data() if splits is None else splits
    nn.random.seed(0)
    config = from_dict(SearchConfig, {
        "epochs": 1, "batch_size": BATCH, "space": {"name": space_name,
                                                    **space.smoke_options},
        "searcher": {"name": searcher}, **search}, "search")
    model = space.build_search(config.space.options, splits.shape, splits.num_classes,
                               np.random.RandomState(0))
    output = RunOutput(str(tmp_path), {"test": "oneshot"}, quiet=True)
    run = Run(model=model, data=splits, config=config, output=output, space=space,
              quiet=True, seed=seed)
    return SEARCHERS.get(searcher)(run)


@pytest.fixture
def chain():
    with SEARCH_SPACES.temporarily("chain", ChainSpace):
        yield ChainSpace


def count_calls(model):
    """``counts[(mixed index, candidate)]``: calls of every candidate while patched."""
    counts = {}
    mixed = [m for _, m in model.get_modules() if isinstance(m, MixedOp)]
    for i, m in enumerate(mixed):
        for k, op in enumerate(m.ops):
            def traced(*args, _call=op.call, _key=(i, k), **kwargs):
                counts[_key] = counts.get(_key, 0) + 1
                return _call(*args, **kwargs)
            op.__dict__["call"] = traced
    return counts, mixed


def count_updates(s):
    calls = []
    update = s.net_optimizer.update

    def counted(step):
        calls.append(step)
        return update(step)
    s.net_optimizer.update = counted
    return calls


def test_fairnas_trains_every_candidate_exactly_once_per_step_with_one_update(
        tmp_path, chain):
    s = trainer(tmp_path, "fairnas")
    counts, mixed = count_calls(s.model)
    updates = count_updates(s)
    for step in range(3):
        counts.clear()
        values = s.train_on_batch(step)
        assert values["paths"] == 3  # three candidates per choice
        assert counts == {(i, k): 1 for i in range(len(mixed)) for k in range(3)}
    assert updates == [0, 1, 2]


def test_fairnas_orders_of_choices_with_fewer_candidates():
    rng = np.random.RandomState(0)
    for _ in range(20):
        orders = fair_orders([7, 6, 3], rng)
        assert [len(o) for o in orders] == [7, 7, 7]
        assert sorted(orders[0]) == list(range(7))  # the largest: a permutation
        assert sorted(orders[1][:6]) == list(range(6))  # each at least once first
        assert sorted(orders[2][:3]) == list(range(3)) and set(orders[2]) == {0, 1, 2}


def test_fairnas_on_proxylessnas_runs_skip_less_blocks_at_least_once(tmp_path):
    s = trainer(tmp_path, "fairnas", "proxylessnas")
    counts, mixed = count_calls(s.model)
    s.train_on_batch(0)
    n = max(len(m.ops) for m in mixed)
    for i, m in enumerate(mixed):
        runs = [counts.get((i, k), 0) for k in range(len(m.ops))]
        assert min(runs) >= 1 and sum(runs) == n


def test_spos_trains_the_seeded_uniform_path_of_each_step(tmp_path, chain):
    s = trainer(tmp_path, "spos", seed=5)
    counts, mixed = count_calls(s.model)
    updates = count_updates(s)
    seen = set()
    for step in range(4):
        counts.clear()
        assert s.train_on_batch(step)["paths"] == 1
        expected = chain.sample(s.arch_options, np.random.RandomState([5, step, 0]))
        ran = {i: k for (i, k), n in counts.items()}
        assert sorted(counts.values()) == [1] * len(mixed)  # one candidate per choice
        assert {f"layer{i}": ChainNet.OPS[k] for i, k in ran.items()} == expected.choices
        seen.add(tuple(sorted(expected.choices.items())))
    assert updates == [0, 1, 2, 3] and len(seen) > 1
    # the same seed draws the same paths in another trainer
    again = trainer(tmp_path / "again", "spos", seed=5)
    assert again.step_paths(2) == s.step_paths(2)


def test_spos_lowers_the_training_loss_well_below_chance_on_the_digits(tmp_path):
    # Every step trains another uniform path, yet the weights shared by all paths and
    # each candidate's own (trained on the paths through it) must learn: on the
    # smallest ProxylessNAS supernet (3 searched blocks of 6-7 candidates) SPOS's loss
    # falls well below chance (ln 10). It takes several times the steps of one fixed
    # path (about 20 steps to 1.3 here), since each candidate is trained on about one
    # step in 7: this run stays near chance for ~40 steps and reaches ~1.15 after
    # 160. A path whose gradients were lost, or weights left out of the update, keep
    # it at chance.
    digits = DATASETS.get("digits")
    steps = 160
    s = trainer(tmp_path, "spos", "proxylessnas", splits=digits.load(digits.Config(), 0),
                epochs=steps, batch_size=32,
                net_optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9})
    losses = []
    for step in range(steps):
        s.x_train.d, s.y_train.d = s.train_loader.next_batch()
        losses.append(s.train_on_batch(step)["loss"])
    first, last = np.mean(losses[:16]), np.mean(losses[-16:])
    assert last < 0.6 * np.log(10) and last < 0.6 * first, (first, last)


def test_hard_bounds_restrict_spos_paths(tmp_path, chain):
    s = trainer(tmp_path, "spos", costs={"flops": {"bound": 1.0e9, "mode": "hard"}})
    tight = min(s.path_costs(s.sample(np.random.RandomState(i)))["flops"]
                for i in range(40))
    s = trainer(tmp_path / "tight", "spos",
                costs={"flops": {"bound": float(tight), "mode": "hard"}})
    for step in range(5):
        arch = s.step_paths(step)[0]
        assert s.path_costs(arch)["flops"] <= tight
    assert s.rejected > 0  # some uniform draws were over the bound


def test_a_space_without_labelled_choices_is_refused_naming_the_key(tmp_path, capsys):
    class Fixed(ChainSpace):
        name = "fixed_chain"

        @classmethod
        def build_search(cls, options, shape, num_classes, rng):
            return ChainNet(shape[0], num_classes, 4, 3, ["conv3"] * 3, rng)

    config = {"seed": 0, "quiet": True,
              "dataset": {"name": "digits", "valid_fraction": 0.3, "test_fraction": 0.3},
              "search": {"epochs": 1, "batch_size": 64, "space": {"name": "fixed_chain"},
                         "searcher": {"name": "spos"}}}
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(config))
    with SEARCH_SPACES.temporarily("fixed_chain", Fixed):
        code = main(["--config", str(path), "--output-path", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "search.space.name: space 'fixed_chain' has no labelled choices" in err
    assert not (tmp_path / "out" / "supernet.json").exists()


# --------------------------------------------------------------- files and resume
CONFIG = {"seed": 4, "quiet": True, "checkpoint_every": 2,
          "dataset": {"name": "digits", "valid_fraction": 0.3, "test_fraction": 0.3},
          "search": {"epochs": 1, "batch_size": 128,
                     "space": {"name": "proxylessnas",
                               **SEARCH_SPACES.get("proxylessnas").smoke_options},
                     "searcher": {"name": None}}}


def supernet_files(out):
    record = json.loads((out / "supernet.json").read_text())
    weights = {}
    with h5py.File(out / "supernet.h5", "r") as f:
        f.visititems(lambda k, v: weights.__setitem__(k, np.array(v))
                     if isinstance(v, h5py.Dataset) else None)
    return record, weights, (out / "arch.json").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["spos", "fairnas"])
def test_killed_and_rerun_supernet_is_identical_and_recorded(tmp_path, searcher):
    import nnabla_nas.builtins  # noqa: F401  (the smoke options above)
    config = json.loads(json.dumps(CONFIG))
    config["search"]["searcher"]["name"] = searcher
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    reference = supernet_files(run_to_end(path, tmp_path / "ref"))
    record = reference[0]
    assert record["space"] == "proxylessnas" and record["trainer"] == searcher
    assert record["epochs"] == 1 and record["options"]["stem"] == "small"
    assert record["sha256"] == file_sha256(tmp_path / "ref" / "supernet.h5")
    space = SEARCH_SPACES.get("proxylessnas")  # what the black-box searchers accept
    options = from_dict(space.SearchConfig, space.smoke_options, "search.space")
    read_supernet(str(tmp_path / "ref" / "supernet.h5"), "proxylessnas", options, "key")

    out = tmp_path / "out"
    run_and_kill(path, out, "search/00000-000002")
    assert not (out / "supernet.json").exists()
    run_to_end(path, out)
    assert "resumed from checkpoint" in (out / "log.txt").read_text()
    again = supernet_files(out)
    assert again[0] == reference[0] and again[2] == reference[2]
    assert again[1].keys() == reference[1].keys()
    for k in reference[1]:
        np.testing.assert_array_equal(again[1][k], reference[1][k], err_msg=k)
