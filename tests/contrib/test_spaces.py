"""The space contract, for every registered space: random architectures build and run,
arch.json round-trips, validation names the label, mutation changes one label, the
count of architectures is right, derivation and fixing work on the supernet; and the
older arch.json files still load to the same architecture."""
import itertools
import json
from pathlib import Path

import nnabla as nn
import numpy as np
import pytest

from nnabla_nas.config.loader import from_dict
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.spaces import SEARCH_SPACES, labelled_ops, load_architecture
from nnabla_nas.module import MixedOp

SPACES = SEARCH_SPACES.names()
SHAPE, CLASSES = (1, 8, 8), 10
LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_arch"


def options(space):
    return from_dict(space.SearchConfig, dict(space.smoke_options), "search.space")


def train_options(space):
    return from_dict(space.TrainConfig, dict(space.smoke_train_options), "train.net")


def arch_options(space):
    return space.arch_options(options(space))


def forward(model, batch=2):
    x = nn.Variable.from_numpy_array(np.random.RandomState(0).randn(batch, *SHAPE)
                                     .astype(np.float32))
    out = model(x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    out.forward()
    return out.d


@pytest.mark.parametrize("name", SPACES)
def test_a_random_architecture_builds_a_network_that_runs(name):
    space = SEARCH_SPACES.get(name)
    for seed in range(3):
        arch = space.sample(arch_options(space), np.random.RandomState(seed))
        assert space.validate(arch) is arch
        net = space.build_train(arch, train_options(space), SHAPE, CLASSES,
                                np.random.RandomState(0))
        net.apply(training=False)
        y = forward(net)
        assert y.shape == (2, CLASSES) and np.all(np.isfinite(y))


@pytest.mark.parametrize("name", SPACES)
def test_arch_json_round_trips(name, tmp_path):
    space = SEARCH_SPACES.get(name)
    arch = space.sample(arch_options(space), np.random.RandomState(1))
    path = tmp_path / "arch.json"
    space.save_arch(arch, str(path))
    data = json.loads(path.read_text())
    assert data["space"] == name and data["version"] == 2
    assert list(data["choices"]) == [c.label for c in space.choices(arch.options)]
    assert space.load_arch(str(path)) == arch == load_architecture(str(path))


@pytest.mark.parametrize("name", SPACES)
def test_mutation_changes_exactly_one_label(name):
    space = SEARCH_SPACES.get(name)
    rng = np.random.RandomState(2)
    arch = space.sample(arch_options(space), rng)
    for _ in range(20):
        mutant = space.mutate(arch, rng)
        assert space.is_valid(mutant)
        assert sum(mutant.choices[k] != arch.choices[k] for k in arch.choices) == 1
        arch = mutant


@pytest.mark.parametrize("name", SPACES)
def test_validation_names_the_file_the_label_and_the_allowed_candidates(name, tmp_path):
    space = SEARCH_SPACES.get(name)
    arch = space.sample(arch_options(space), np.random.RandomState(3))
    choice = space.choices(arch.options)[-1]
    bad = dict(arch.choices, **{choice.label: "no_such_op"})
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(dict(arch.to_dict(), choices=bad)))
    with pytest.raises(ValueError) as e:
        space.load_arch(str(path))
    message = str(e.value)
    assert message.startswith(f"{path}: choices.{choice.label}: 'no_such_op'")
    assert ", ".join(choice.candidates) in message
    path.write_text(json.dumps(dict(arch.to_dict(), choices=dict(arch.choices, extra="x"))))
    with pytest.raises(ValueError, match=r"choices\.extra: no such decision"):
        space.load_arch(str(path))
    missing = {k: v for k, v in arch.choices.items() if k != choice.label}
    path.write_text(json.dumps(dict(arch.to_dict(), choices=missing)))
    with pytest.raises(ValueError, match=f"choices: missing labels {choice.label}"):
        space.load_arch(str(path))


def count_valid(space, ao):
    """Brute force: every combination of candidates that the space accepts."""
    choices = space.choices(ao)
    return sum(space.is_valid(Architecture(space.name, ao, dict(zip(
        [c.label for c in choices], names))))
        for names in itertools.product(*[c.candidates for c in choices]))


@pytest.mark.parametrize("name", SPACES)
def test_the_size_counts_the_valid_architectures(name):
    space = SEARCH_SPACES.get(name)
    ao = arch_options(space)
    combos = np.prod([len(c.candidates) for c in space.choices(ao)], dtype=np.float64)
    assert 0 < space.size(ao) <= combos
    if combos <= 20_000:  # small enough to count one by one
        assert space.size(ao) == count_valid(space, ao)


def test_the_darts_size_counts_two_kept_edges_per_node():
    space = SEARCH_SPACES.get("darts")
    ao = {"num_nodes": 1, "normal_concat": [2], "reduce_concat": [2]}
    assert space.size(ao) == count_valid(space, ao) == 49 ** 2


@pytest.mark.parametrize("name", SPACES)
def test_derive_and_fix_on_the_supernet(name):
    space = SEARCH_SPACES.get(name)
    opts = options(space)
    model = space.build_search(opts, SHAPE, CLASSES, np.random.RandomState(0))
    forward(model)
    groups = labelled_ops(model)
    assert [c.label for c in space.choices(space.arch_options(opts))] == list(groups)
    for ops in groups.values():  # favour the last candidate everywhere
        for m in ops:
            m.alpha.d = np.eye(len(m.ops))[-1].reshape(m.alpha.shape) * 5.0
    arch = space.derive(model, opts)
    assert space.is_valid(arch)
    decisions = space.decisions(model, opts)
    assert all(d.candidates[d.choice] == arch.choices[d.name] for d in decisions)
    modes = {id(m): m.mode for ops in groups.values() for m in ops}
    other = space.sample(space.arch_options(opts), np.random.RandomState(4))
    with space.fixed(model, other):
        y = forward(model)
        for label, ops in groups.items():
            assert all(m.active_index == m.names.index(other.choices[label]) for m in ops)
            assert not any(m.alpha.need_grad for m in ops)
    assert np.all(np.isfinite(y))
    assert all(m.mode == modes[id(m)] and m.selected is None and m.alpha.need_grad
               for ops in groups.values() for m in ops)


@pytest.mark.parametrize("name", SPACES)
def test_every_architecture_parameter_is_a_mixedop_alpha(name):
    space = SEARCH_SPACES.get(name)
    model = space.build_search(options(space), SHAPE, CLASSES, np.random.RandomState(0))
    alphas = {id(m.alpha) for _, m in model.get_modules() if isinstance(m, MixedOp)}
    arch_params = model.get_arch_parameters()
    assert arch_params and {id(p) for p in arch_params.values()} == alphas
    assert all("alpha" in k for k in arch_params)  # names that older code filters on
    assert not set(arch_params) & set(model.get_net_parameters())


def test_version_1_darts_file_loads_to_the_same_architecture():
    from nnabla_nas.contrib.darts.genotype import load_genotype
    from nnabla_nas.contrib.darts.space import DartsSpace, genotype_of
    path = LEGACY / "darts_v1.json"
    arch = DartsSpace.load_arch(str(path))
    old = load_genotype(path)
    new = genotype_of(arch)
    for kind in ("normal", "reduce"):
        assert sorted(getattr(new, kind)) == sorted(getattr(old, kind))
        assert getattr(new, f"{kind}_concat") == getattr(old, f"{kind}_concat")
    assert arch.choices["normal/node0/edge1"] == "sep_conv_3x3"
    assert arch.choices["reduce/node1/edge2"] == "skip_connect"


def test_version_1_proxylessnas_file_loads_to_the_same_architecture():
    from nnabla_nas.contrib.pnas.genotype import load_genotype
    from nnabla_nas.contrib.pnas.space import ProxylessSpace, genotype_of
    path = LEGACY / "proxylessnas_v1.json"
    arch = ProxylessSpace.load_arch(str(path))
    assert genotype_of(arch) == load_genotype(path)
    assert arch.choices == {"block1": "k5_e3", "block2": "skip", "block3": "k7_e6"}


def test_a_file_of_another_space_is_refused_with_its_name(tmp_path):
    darts, pnas = SEARCH_SPACES.get("darts"), SEARCH_SPACES.get("proxylessnas")
    with pytest.raises(ValueError, match="space: expected 'darts', got 'proxylessnas'"):
        darts.load_arch(str(LEGACY / "proxylessnas_v1.json"))
    arch = pnas.sample(arch_options(pnas), np.random.RandomState(0))
    path = tmp_path / "arch.json"
    pnas.save_arch(arch, str(path))
    with pytest.raises(ValueError, match="space: expected 'darts', got 'proxylessnas'"):
        darts.load_arch(str(path))
