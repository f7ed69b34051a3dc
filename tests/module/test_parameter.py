"""Parameter: initialization, dtype, gradient and validation."""
import nnabla as nn
import numpy as np
import pytest
from nnabla.initializer import ConstantInitializer, UniformInitializer

from nnabla_nas.module import Parameter


def test_default_is_zeros_float32_with_zero_gradient():
    p = Parameter((2, 3))
    assert isinstance(p, nn.Variable) and p.need_grad
    assert p.d.dtype == np.float32 and not p.d.any() and not p.g.any()


def test_gradient_memory_is_not_allocated_before_a_backward_writes_it():
    # A sampled search (ProxylessNAS) never runs most candidates in a step: their
    # gradients must not cost memory up front.
    p = Parameter((1000, 1000))
    assert p.grad.zeroing
    p.g = np.ones((1000, 1000), np.float32)
    assert not p.grad.zeroing and p.g.sum() == 1e6


@pytest.mark.parametrize("init, expected", [
    (2.5, np.full((2, 2), 2.5)),
    (np.arange(4.0).reshape(2, 2), np.arange(4.0).reshape(2, 2)),
    (ConstantInitializer(-1), np.full((2, 2), -1.0)),
])
def test_initializers(init, expected):
    np.testing.assert_array_equal(Parameter((2, 2), initializer=init).d, expected)


def test_random_initializer_is_used_with_its_rng():
    a = Parameter((5,), initializer=UniformInitializer((-1, 1), rng=np.random.RandomState(0)))
    b = Parameter((5,), initializer=UniformInitializer((-1, 1), rng=np.random.RandomState(0)))
    np.testing.assert_array_equal(a.d, b.d)
    assert np.abs(a.d).max() <= 1 and a.d.std() > 0


def test_need_grad_false():
    assert not Parameter((1,), need_grad=False).need_grad


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(shape="abc"), ValueError, "shape: expected a tuple of non-negative ints"),
    (dict(shape=(2, -1)), ValueError, "shape"),
    (dict(shape=(2,), initializer=np.zeros(3)), ValueError, r"array of shape \(3,\)"),
    (dict(shape=(2,), initializer="ones"), TypeError, "initializer: expected"),
    (dict(shape=(2,), initializer=lambda shape: np.zeros(5)), ValueError, "returned shape"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        Parameter(**kwargs)
