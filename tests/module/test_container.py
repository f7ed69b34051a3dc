"""Sequential, ModuleList and ParameterList."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.module import Parameter


def test_sequential_applies_modules_in_order():
    seq = Mo.Sequential(Mo.Lambda(lambda x: x + 1.0), Mo.Lambda(lambda x: x * 3.0))
    x = nn.Variable.from_numpy_array(np.array([1.0, 2.0], dtype=np.float32))
    y = seq(x)
    y.forward()
    assert y.d.tolist() == [6.0, 9.0]


def test_sequential_accepts_a_list_and_slices_to_a_sequential():
    relu, pool = Mo.ReLU(), Mo.GlobalAvgPool()
    seq = Mo.Sequential([relu, pool, Mo.Identity()])
    assert len(seq) == 3 and seq[0] is relu and seq[-2] is pool
    head = seq[:2]
    assert isinstance(head, Mo.Sequential) and list(head) == [relu, pool]


def test_module_list_names_children_by_index_and_supports_list_operations():
    ml = Mo.ModuleList([Mo.Linear(2, 3)])
    ml.append(Mo.Linear(3, 4)).extend([Mo.Linear(4, 5)])
    assert list(ml.modules) == ["0", "1", "2"]
    assert list(ml.get_parameters()) == ["0/W", "0/b", "1/W", "1/b", "2/W", "2/b"]
    replacement = Mo.Linear(3, 4, with_bias=False)
    ml[1] = replacement
    assert ml[1] is replacement and list(ml.get_parameters())[2:3] == ["1/W"]
    with pytest.raises(IndexError, match="index 3 out of range for 3 items"):
        ml[3]
    with pytest.raises(TypeError, match="item 3: expected a Module, got int"):
        ml.append(3)
    with pytest.raises(NotImplementedError, match="index it or use Sequential"):
        ml(nn.Variable((1, 2)))


def test_parameter_list_registers_parameters():
    pl = Mo.ParameterList([Parameter((2,)), Parameter((3,), initializer=1.0)])
    pl.append(Parameter((1,)))
    assert list(pl.get_parameters()) == ["0", "1", "2"]
    assert pl[1].d.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="expected a Parameter, got Variable"):
        pl.append(nn.Variable((1,)))
    assert "(1): Parameter(shape=(3,), need_grad=True)" in repr(pl)
