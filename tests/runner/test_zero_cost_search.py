"""Search without training: black-box searchers that read a benchmark table
(``evaluate: table``), that use a zero-cost proxy as fitness (``evaluate: proxy``), and
that pre-select their first candidates by a proxy (``preselect``)."""
import json
import sys

import numpy as np
import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.proxies import score
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.nasbench201 import parse_arch_str
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset import DatasetSplits, Split
from nnabla_nas.runner.randomness import seeded_globals
from nnabla_nas.runner.run import Run
from nnabla_nas.runner.schema import SearchConfig
from nnabla_nas.runner.searcher import SEARCHERS
from nnabla_nas.runner.searcher.blackbox import WORST_SCORE, BlackBoxSearcher
from nnabla_nas.utils.output import RunOutput

SPACE = SEARCH_SPACES.get("nasbench201")
TRAIN = SPACE.TrainConfig(**SPACE.smoke_train_options)


SHAPE, CLASSES = (3, 8, 8), 3


def noise(n, seed):
    rng = np.random.RandomState(seed)
    return Split(rng.randn(n, *SHAPE).astype(np.float32),
                 (np.arange(n) % CLASSES).reshape(n, 1).astype(np.int32))


def run_search(folder, searcher, seed, **options):
    """A search of the nasbench201 space (its smallest network) on images of noise;
    the searcher after it."""
    config = from_dict(SearchConfig, {
        "epochs": 1, "batch_size": 8, "space": {"name": "nasbench201",
                                                **SPACE.smoke_options},
        "searcher": {"name": searcher, **options}}, "search")
    data = DatasetSplits(noise(24, 0), noise(16, 1), noise(16, 2), CLASSES, "noise")
    output = RunOutput(str(folder), {"test": searcher}, quiet=True)
    model = SPACE.build_search(config.space.options, SHAPE, CLASSES,
                               np.random.RandomState(0))
    s = SEARCHERS.get(searcher)(Run(model=model, data=data, config=config,
                                    output=output, space=SPACE, quiet=True, seed=seed,
                                    train_options=TRAIN))
    try:
        s.search()
    finally:
        output.close()
    return s


def journal(folder):
    return [json.loads(line) for line in
            (folder / "candidates.jsonl").read_text().splitlines()]


def test_a_table_search_reads_the_benchmark_within_its_bounds(tmp_path):
    N = pytest.importorskip("tests.contrib.nats_files")  # needs nats_bench
    evaluations, redraws = 10, 8
    # What the random search can draw: each candidate's proposals (redrawn when over
    # the bound), so the table needs nothing else.
    drawn = set()
    for i in range(evaluations):
        rng = BlackBoxSearcher.proposal_rng(0, i)
        drawn.update(SPACE.describe(SPACE.sample({}, rng)) for _ in range(redraws))
    path = N.write_tss(str(tmp_path / "NATS-tss-v1_0-3ffb9-simple"), sorted(drawn),
                       hps=("12",), datasets=("cifar100",))
    bound = 0.5  # params (M) of at most two 3x3 convolutions' worth
    out = tmp_path / "run"
    s = run_search(out, "random", 0, evaluations=evaluations, evaluate="table",
                   max_draws=redraws, top_k=2,
                   table={"path": path, "dataset": "cifar100", "hp": 12,
                          "metric": "valid", "max_params": bound})
    cands = journal(out)
    assert len(cands) == evaluations
    for c in cands:
        text = SPACE.describe(Architecture("nasbench201", {}, c["arch"]))
        assert c["accuracy"] == pytest.approx(sum(
            N.accuracy(text, "cifar100", "x-valid", "12", s) for s in N.SEEDS) / 200)
        expected = N.costs(text)
        assert c["costs"] == pytest.approx({
            "table_params": expected["params"], "table_flops": expected["flops"],
            "table_latency": 1000 * expected["latency"]})
        assert c["costs"]["table_params"] <= bound
    assert sum(c["draws"] for c in cands) > evaluations  # the bound rejected some
    summary = s.summary_values()
    best = max(cands, key=lambda c: (c["accuracy"], -c["index"]))
    assert summary["search_table_accuracy"] == best["accuracy"]
    assert summary["table"] == {"path": path, "dataset": "cifar100", "hp": 12,
                                "metric": "valid"}
    assert summary["search_arch_table_params_m"] == best["costs"]["table_params"]
    assert json.loads((out / "arch.json").read_text())["choices"] == best["arch"]
    header = (out / "pareto.csv").read_text().splitlines()[0]
    assert header == "index,accuracy,table_params,table_flops,table_latency,seconds," \
                     "arch,on_front"


def test_a_proxy_search_preselects_by_one_proxy_and_scores_by_another(tmp_path):
    s = run_search(tmp_path / "run", "evolution", 3, evaluations=3, population=2,
                   sample_size=1, evaluate="proxy", proxy="synflow", proxy_batch=16,
                   preselect={"proxy": "naswot", "keep": 2, "pool": 4})
    folder = tmp_path / "run"
    ranking = json.loads((folder / "preselect.json").read_text())
    scores = [r["score"] for r in ranking["ranked"]]
    assert (ranking["proxy"], ranking["pool"], ranking["keep"]) == ("naswot", 4, 2)
    assert scores == sorted(scores, reverse=True) and len(scores) == ranking["distinct"]
    cands = journal(folder)
    assert [c["arch"] for c in cands[:2]] == [r["arch"] for r in ranking["ranked"][:2]]
    batch = s.proxy_batch()
    assert len(batch.inputs) == 16
    for c in cands:  # the fitness is the synflow of the untrained delivered network
        arch = c["arch"]
        with seeded_globals(3):
            net = SPACE.build_train(Architecture("nasbench201", {}, arch), TRAIN, SHAPE,
                                    CLASSES, np.random.RandomState(3))
        assert c["accuracy"] == pytest.approx(score(net, batch, ["synflow"])["synflow"],
                                              rel=1e-5)
    naswot = {json.dumps(r["arch"], sort_keys=True): r["score"] for r in ranking["ranked"]}
    assert naswot[json.dumps(cands[0]["arch"], sort_keys=True)] == max(scores)
    # A cell whose output ignores its input: naswot is -inf, recorded as the worst.
    empty = Architecture("nasbench201", {}, parse_arch_str(
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert s.proxy_score(empty, "naswot") == WORST_SCORE == -sys.float_info.max
    values = s.summary_values()
    assert values["proxy"] == "synflow" and values["preselected"] == 2
    assert values["search_proxy_score"] == max(c["accuracy"] for c in cands)
