"""training_mode: one context manager sets a tree's training flag and gives every
module back its own."""
import doctest

import pytest

from nnabla_nas import module as Mo
from nnabla_nas.module import module as module_module
from nnabla_nas.module import training_mode


def tree():
    inner = Mo.Sequential(Mo.Dropout(0.5), Mo.BatchNormalization(4, 4))
    return Mo.Sequential(Mo.ReLU(), inner), inner


def flags(net):
    return [m.training for _, m in net.get_modules()]


@pytest.mark.parametrize("mode", [False, True])
def test_sets_the_whole_tree_and_restores_each_modules_own_flag(mode):
    net, inner = tree()
    inner[0].training = False           # mixed modes before
    before = flags(net)
    with training_mode(net, mode) as same:
        assert same is net and flags(net) == [mode] * len(before)
    assert flags(net) == before


def test_restores_after_an_exception():
    net, inner = tree()
    inner.apply(training=False)
    before = flags(net)
    with pytest.raises(RuntimeError):
        with training_mode(net, True):
            raise RuntimeError("boom")
    assert flags(net) == before


def test_a_module_shared_twice_is_restored_once_to_its_flag():
    shared = Mo.ReLU()
    shared.training = False
    net = Mo.Sequential(shared, Mo.Sequential(shared))
    with training_mode(net, True):
        assert shared.training
    assert not shared.training and net.training


def test_the_docstring_example_runs():
    assert doctest.testmod(module_module).failed == 0
