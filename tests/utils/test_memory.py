"""checked_build: a counting build allocates no parameter, leaves the random generators
as they were, and refuses a network larger than the machine with the figure."""
import nnabla.random
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.utils.memory import MemoryLimitError, checked_build, counting


def build(rng):
    np.random.randn(3)  # consumes the global generator too, as initializers may
    return Mo.Sequential(Mo.Conv(3, 8, (3, 3), rng=rng), Mo.Linear(8, 4, rng=rng))


def test_a_counting_build_counts_and_allocates_nothing():
    with counting() as count:
        net = build(np.random.RandomState(0))
    assert count.values == sum(int(np.prod(p.shape))
                               for p in net.get_parameters().values()) == 260


def test_checked_build_is_the_direct_build(monkeypatch):
    np.random.seed(5)
    nnabla.random.seed(5)
    direct = build(np.random.RandomState(1)).get_parameters()
    after_direct = np.random.randn(2)
    np.random.seed(5)
    nnabla.random.seed(5)
    checked = checked_build("net", build, 1).get_parameters()
    np.testing.assert_array_equal(np.random.randn(2), after_direct)
    for name, p in direct.items():
        np.testing.assert_array_equal(p.d, checked[name].d, err_msg=name)


def test_a_network_larger_than_the_machine_is_refused_with_the_figure(monkeypatch):
    monkeypatch.setattr("nnabla_nas.utils.memory.physical_memory", lambda: 1024)
    with pytest.raises(MemoryLimitError, match=r"^net: its 260 parameters \(values and "
                                               r"gradients\): needs 2\.0 KiB, and this "
                                               r"machine has 1\.0 KiB"):
        checked_build("net", build, 1)
