"""The tree semantics of Module, one by one."""
import os
from collections import OrderedDict

import h5py
import nnabla as nn
import nnabla.functions as F
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.module import Module, Parameter, ParameterLoadError


class Leaf(Module):
    def __init__(self, n=3, value=1.0):
        self.w = Parameter((n,), initializer=value)
        self.frozen = Parameter((n,), need_grad=False)

    def call(self, x):
        return x * F.reshape(self.w, (1, -1))


class Tree(Module):
    # No super().__init__(): registration must work without it.
    def __init__(self):
        self.first = Leaf(2, 1.0)
        self.bias = Parameter((1,), initializer=0.5)
        self.second = Mo.Sequential(Leaf(2, 2.0), Leaf(2, 3.0))

    def call(self, x):
        return self.second(self.first(x)) + F.reshape(self.bias, (1, 1))


def test_attributes_register_in_assignment_order_without_super_init():
    t = Tree()
    assert list(t.modules) == ["first", "second"]
    assert list(t.parameters) == ["bias"]
    assert "first" not in t.__dict__ and t.first is t.modules["first"]


def test_get_parameters_hierarchical_names_in_stable_order():
    names = list(Tree().get_parameters())
    assert names == ["bias", "first/w", "first/frozen", "second/0/w", "second/0/frozen",
                     "second/1/w", "second/1/frozen"]
    assert names == list(Tree().get_parameters())


def test_get_parameters_grad_only_respects_parameter_and_module_need_grad():
    t = Tree()
    assert list(t.get_parameters(grad_only=True)) == ["bias", "first/w", "second/0/w",
                                                      "second/1/w"]
    t.second.need_grad = False  # set on one node only: its subtree is excluded too
    assert list(t.get_parameters(grad_only=True)) == ["bias", "first/w"]
    assert len(t.get_parameters()) == 7


def test_shared_parameter_and_module_appear_once():
    shared_leaf = Leaf()
    shared_p = Parameter((2,))

    class Shared(Module):
        def __init__(self):
            self.a = shared_leaf
            self.b = shared_leaf
            self.p = shared_p
            self.c = Mo.ParameterList([shared_p])

    s = Shared()
    assert list(s.get_parameters()) == ["p", "a/w", "a/frozen"]
    assert [name for name, _ in s.get_modules()] == ["", "a", "c"]


def test_get_modules_yields_self_and_every_descendant():
    t = Tree()
    named = list(t.get_modules())
    assert [n for n, _ in named] == ["", "first", "second", "second/0", "second/1"]
    assert named[0][1] is t and named[3][1] is t.second[0]
    assert [n for n, _ in t.get_modules(prefix="net")][:2] == ["net", "net/first"]


def test_reassigning_and_deleting_update_the_registries():
    t = Tree()
    t.first = None
    assert "first" not in t.modules and t.first is None
    t.bias = Leaf()
    assert "bias" in t.modules and "bias" not in t.parameters
    del t.bias
    assert "bias" not in t.modules
    with pytest.raises(AttributeError, match="'Tree' object has no attribute 'bias'"):
        t.bias


def test_plain_variable_with_need_grad_false_is_not_a_parameter():
    t = Tree()
    t.const = nn.Variable.from_numpy_array(np.ones(3), need_grad=False)
    assert "const" not in t.parameters and "const" not in dict(t.get_parameters())
    computed = F.identity(nn.Variable((2,), need_grad=True))
    t.cache = computed  # a computed variable is a cached result, allowed
    assert t.cache is computed


def test_plain_leaf_variable_with_need_grad_true_is_refused_by_name():
    t = Tree()
    with pytest.raises(TypeError, match=r"Tree\.weights: .*Parameter"):
        t.weights = nn.Variable((3,), need_grad=True)


@pytest.mark.parametrize("name", ["training", "call", "get_parameters", "modules"])
def test_child_name_clashing_with_module_attribute_is_refused(name):
    t = Tree()
    with pytest.raises(KeyError, match=f"'{name}' clashes"):
        setattr(t, name, Leaf())


@pytest.mark.parametrize("name", ["a/b", "a.b", ""])
def test_child_names_that_break_hierarchical_names_are_refused(name):
    with pytest.raises(KeyError, match="child name"):
        setattr(Tree(), name, Parameter((1,)))


def test_assigning_before_the_base_is_usable_names_the_attribute():
    class Broken(Module):
        def __new__(cls):
            return object.__new__(cls)

        def __init__(self):
            self.conv = Leaf()

    with pytest.raises(AttributeError, match="cannot assign 'conv' on Broken"):
        Broken()


def test_apply_sets_attributes_on_the_whole_tree_and_returns_self():
    t = Tree()
    assert t.apply(training=False) is t
    assert all(not m.training for _, m in t.get_modules())
    t.apply(training=True, need_grad=False)
    assert all(m.training and not m.need_grad for _, m in t.get_modules())
    assert list(t.get_parameters(grad_only=True)) == []


def test_call_records_input_shapes_and_computes():
    t = Tree()
    x = nn.Variable.from_numpy_array(np.ones((4, 2), dtype=np.float32))
    y = t(x)
    y.forward()
    assert t.input_shapes == [(4, 2)] and t.first.input_shapes == [(4, 2)]
    np.testing.assert_allclose(y.d, np.full((4, 2), 1 * 2 * 3 + 0.5))


def test_call_must_be_defined():
    class NoCall(Module):
        pass

    with pytest.raises(NotImplementedError, match="NoCall does not define call"):
        NoCall()(nn.Variable((1,)))


def test_repr_shows_the_tree():
    text = repr(Tree())
    assert text.splitlines() == [
        "Tree(",
        "  (first): Leaf()",
        "  (second): Sequential(",
        "    (0): Leaf()",
        "    (1): Leaf()",
        "  )",
        ")",
    ]
    assert repr(Mo.Dropout(0.2)) == "Dropout(drop_prob=0.2)"


# ------------------------------------------------------------ saving and loading
def _randomize(module, seed):
    rng = np.random.RandomState(seed)
    for p in module.get_parameters().values():
        p.d = rng.randn(*p.shape)


def test_save_and_load_round_trip(tmp_path):
    a, b = Tree(), Tree()
    _randomize(a, 0)
    path = str(tmp_path / "w.h5")
    a.save_parameters(path)
    b.load_parameters(path)
    for (ka, pa), (kb, pb) in zip(a.get_parameters().items(), b.get_parameters().items()):
        assert ka == kb
        np.testing.assert_array_equal(pa.d, pb.d)
    assert os.listdir(tmp_path) == ["w.h5"]  # no temporary file left behind


def test_saved_file_is_nnabla_format_readable_by_nnabla_itself(tmp_path):
    a = Tree()
    _randomize(a, 1)
    path = str(tmp_path / "w.h5")
    a.save_parameters(path)
    with h5py.File(path, "r") as f:
        assert "second/1/w" in f and f["second/1/w"].dtype == np.float32
    with nn.parameter_scope("", OrderedDict()):
        nn.load_parameters(path)
        loaded = nn.get_parameters(grad_only=False)
    assert list(loaded) == list(a.get_parameters())
    np.testing.assert_array_equal(loaded["first/w"].d, a.first.w.d)


def test_loads_files_written_by_nnabla_save_parameters(tmp_path):
    t = Tree()
    values = OrderedDict((k, nn.Variable.from_numpy_array(np.full(p.shape, i, np.float32)))
                         for i, (k, p) in enumerate(t.get_parameters().items()))
    path = str(tmp_path / "w.h5")
    nn.save_parameters(path, values)
    t.load_parameters(path)
    assert t.get_parameters()["second/0/w"].d.tolist() == [3.0, 3.0]
    assert nn.get_parameters() == OrderedDict()  # the global scope stays untouched


def test_strict_load_reports_missing_and_unexpected_together_and_changes_nothing(tmp_path):
    t = Tree()
    params = OrderedDict((k, v) for k, v in t.get_parameters().items() if k != "bias")
    params["extra/W"] = Parameter((2,), initializer=9.0)
    params["first/w"] = Parameter((2,), initializer=7.0)
    path = str(tmp_path / "w.h5")
    nn.save_parameters(path, params)
    with pytest.raises(ParameterLoadError) as info:
        t.load_parameters(path)
    assert info.value.missing == ["bias"] and info.value.unexpected == ["extra/W"]
    assert "missing keys ['bias']" in str(info.value) and "extra/W" in str(info.value)
    assert t.first.w.d.tolist() == [1.0, 1.0]  # nothing copied on failure
    t.load_parameters(path, strict=False)
    assert t.first.w.d.tolist() == [7.0, 7.0]


def test_shape_mismatch_is_refused_even_when_not_strict():
    t = Tree()
    with pytest.raises(ParameterLoadError, match="'first/w': \\(3,\\) in source, \\(2,\\)"):
        t.set_parameters({"first/w": np.zeros(3)}, strict=False)


def test_raise_if_missing_is_the_older_spelling_of_strict():
    t = Tree()
    t.set_parameters({"bias": np.array([4.0])}, raise_if_missing=False)
    assert t.bias.d.tolist() == [4.0]
    with pytest.raises(ParameterLoadError, match="missing keys"):
        t.set_parameters({"bias": np.array([4.0])}, raise_if_missing=True)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        Tree().load_parameters(str(tmp_path / "nope.h5"))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="bad.h5.*not a readable NNabla parameter file"):
        Tree().load_parameters(str(bad))
    with pytest.raises(ValueError, match="save_parameters: path"):
        Tree().save_parameters(str(tmp_path / "w.txt"))
