"""The ``random_wired`` search space: its seeded graph generators, the graphs as the
paper wires them, the space contract on a tiny config, and its example with the DARTS
and ProxylessNAS searchers."""
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.contrib.random_wired import (OPS, RandomWiredSpace, Stage,
                                             barabasi_albert, erdos_renyi, generate,
                                             watts_strogatz)
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from tests.contrib import space_checks as checks

SHAPE = (1, 8, 8)
TINY = RandomWiredSpace.SearchConfig(**RandomWiredSpace.smoke_options)
TRAIN = RandomWiredSpace.TrainConfig(channels=4)
GENERATORS = {"ws": {"k": 4, "p": 0.75}, "er": {"p": 0.3}, "ba": {"m": 3}}


def options(generator, seed=0, **more):
    return RandomWiredSpace.SearchConfig(generator=generator, nodes=12, seed=seed,
                                         stages=2, **{**GENERATORS[generator], **more})


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_generators_are_seeded(generator):
    first = generate(options(generator))
    assert generate(options(generator)) == first and len(first) == 2
    assert generate(options(generator, seed=1)) != first
    assert first[0] != first[1]  # each stage draws its own graph


def test_generators_have_their_models_edge_counts():
    rng = np.random.RandomState(0)
    ws = watts_strogatz(20, 4, 0.75, rng)
    assert len(ws) == 20 * 4 // 2  # rewiring moves edges, never adds or drops them
    assert watts_strogatz(8, 2, 0.0, rng) == sorted(
        [(i, i + 1) for i in range(7)] + [(0, 7)])  # p = 0: the ring lattice
    assert len(barabasi_albert(20, 3, rng)) == 3 * (20 - 3)
    complete = [(u, v) for u in range(10) for v in range(u + 1, 10)]
    assert erdos_renyi(10, 1.0, rng) == complete
    assert erdos_renyi(10, 0.0, rng) == []


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_each_stage_is_a_dag_with_one_input_and_one_output(generator):
    for edges in generate(options(generator)):
        strides = {}

        def op(node, stride):
            strides[node] = stride
            return Mo.Identity()

        stage = Stage(12, edges, op)
        # the nodes the stage's input feeds, and only they, downsample
        assert [strides[i] == 2 for i in range(12)] == [p == [-1] for p in stage.preds]
        # with the unique input (-1) and output (12) added as the paper does
        dag = [(u, i) for i, preds in enumerate(stage.preds) for u in preds]
        dag += [(i, 12) for i in stage.outputs]
        assert all(u < v for u, v in dag)  # edges point from lower to higher: acyclic
        sources = {u for u, _ in dag} - {v for _, v in dag}
        sinks = {v for _, v in dag} - {u for u, _ in dag}
        assert sources == {-1} and sinks == {12}
        assert set(edges) <= set(dag)


def test_registered_with_one_choice_per_node():
    assert SEARCH_SPACES.get("random_wired") is RandomWiredSpace
    arch_options = RandomWiredSpace.arch_options(TINY)
    assert arch_options["graphs"] == [[list(e) for e in g] for g in generate(TINY)]
    choices = RandomWiredSpace.choices(arch_options)
    assert [c.label for c in choices] == [f"stage{s}/node{i}" for s in (0, 1)
                                          for i in range(4)]
    assert all(c.candidates == OPS for c in choices)
    assert RandomWiredSpace.size(arch_options) == len(OPS) ** 8


def test_random_architecture_trains_on_its_stored_graph():
    arch, model = checks.check_random_architecture_trains(RandomWiredSpace, TINY, TRAIN,
                                                          SHAPE)
    stage = model.stages[0][2]
    assert [sorted(p) for p in stage.preds] == [
        sorted(u for u, v in arch.options["graphs"][0] if v == i) or [-1] for i in range(4)]
    # nodes with several inputs learn their aggregation weights, by the loss's gradient
    weights = list(stage.weights)
    assert len(weights) == sum(len(p) > 1 for p in stage.preds) > 0
    assert all(np.abs(w.g).sum() > 0 for w in weights)


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_supernet_derive_save_load_mutate(tmp_path, generator):
    tiny = RandomWiredSpace.SearchConfig(**{**RandomWiredSpace.smoke_options, "k": 2,
                                            "m": 2, "generator": generator})
    model = checks.check_supernet_modes(RandomWiredSpace, tiny, SHAPE)
    arch = checks.check_derive_save_load_mutate(RandomWiredSpace, tiny, model, tmp_path)
    assert arch.options["graphs"] == RandomWiredSpace.arch_options(tiny)["graphs"]


@pytest.mark.parametrize("space, message", [
    ({"generator": "ws", "nodes": 4, "k": 4}, r"search\.space\.k: expected an even number"),
    ({"generator": "ws", "k": 3}, r"search\.space\.k: expected an even number"),
    ({"generator": "ba", "nodes": 4, "m": 4}, r"search\.space\.m: expected fewer than"),
    ({"generator": "gnp"}, r"search\.space\.generator: expected a string one of"),
    ({"channels": 5}, r"search\.space\.channels: expected an even number"),
    ({"p": 1.5}, r"search\.space\.p: expected a number >= 0 and <= 1"),
])
def test_bad_options_name_the_key(space, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        checks.search_options("random_wired", **space)


@pytest.mark.parametrize("graphs, message", [
    ([[[1, 0]]], r"graphs\[0\]\[0\]: expected \[u, v\] with 0 <= u < v < 4"),
    ([[[0, 9]]], r"graphs\[0\]\[0\]: expected \[u, v\]"),
    ([[[0, 1], [0, 1]]], r"graphs\[0\]: repeated edges"),
    ([], r"graphs: expected a list of 1 to 6"),
])
def test_bad_graphs_in_arch_json_are_refused(graphs, message):
    arch_options = {**RandomWiredSpace.arch_options(TINY), "graphs": graphs}
    with pytest.raises(ValueError, match=message):
        RandomWiredSpace.choices(arch_options)


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["darts", "proxylessnas"])
def test_example_searches_and_trains(tmp_path, searcher):
    arch, _ = checks.run_example("examples/random_wired/digits.yaml", searcher,
                                 tmp_path / "out", "search.space.channels=4",
                                 "search.space.nodes=4", "search.space.k=2",
                                 "train.net.channels=4")
    assert arch["space"] == "random_wired" and len(arch["choices"]) == 8
    assert len(arch["options"]["graphs"]) == 2
