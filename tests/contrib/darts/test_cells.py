"""Cells, drop path and the auxiliary head."""
import nnabla as nn
import numpy as np
import pytest

from nnabla_nas import module as Mo
from nnabla_nas.contrib.darts.cells import (AuxiliaryHead, SearchCell, TrainCell,
                                            aux_pooling, drop_path, reduction_indices)
from nnabla_nas.contrib.darts.genotype import DARTS_V2
from nnabla_nas.contrib.darts.ops import FactorizedReduce, ReLUConvBN


def variable(shape, seed=0):
    x = np.random.RandomState(seed).randn(*shape).astype(np.float32)
    return nn.Variable.from_numpy_array(x, need_grad=True)


def test_reduction_cells_sit_at_one_and_two_thirds():
    assert reduction_indices(8) == {2, 5}
    assert reduction_indices(20) == {6, 13}
    assert reduction_indices(3) == {1, 2}


@pytest.mark.parametrize("reduction, reduction_prev", [(False, False), (True, False),
                                                       (False, True)])
def test_search_cell_shapes_and_edges(reduction, reduction_prev):
    cell = SearchCell(6, 10, 4, reduction, reduction_prev, num_nodes=3, multiplier=2,
                      mode="full", alpha_init=lambda shape: np.zeros(shape))
    assert len(cell.edges) == 9  # 2 + 3 + 4
    assert isinstance(cell.preprocess0,
                      FactorizedReduce if reduction_prev else ReLUConvBN)
    s0 = variable((2, 6, 8 if reduction_prev else 4, 8 if reduction_prev else 4))
    y = cell(s0, variable((2, 10, 4, 4)))
    size = 2 if reduction else 4
    assert y.shape == (2, 2 * 4, size, size)
    strides = [e.ops[-1].depthwise._stride for e in cell.edges]
    expected = [(2, 2) if reduction and j < 2 else (1, 1)
                for node in range(3) for j in range(node + 2)]
    assert strides == expected


def test_drop_path_zeroes_whole_samples_with_probability_p():
    x = nn.Variable.from_numpy_array(np.ones((20000, 2, 3, 3), dtype=np.float32))
    y = drop_path(x, 0.3)
    y.forward()
    per_sample = y.d.reshape(20000, -1)
    dropped = (per_sample == 0).all(axis=1)
    assert abs(dropped.mean() - 0.3) < 0.02
    # a sample is dropped or kept whole, and kept ones are scaled by 1 / keep
    np.testing.assert_allclose(per_sample[~dropped], 1 / 0.7, rtol=1e-6)
    y.forward()  # a new mask at every forward pass
    assert (dropped != (y.d.reshape(20000, -1) == 0).all(axis=1)).any()


def _outputs_of_two_passes(cell, drop_prob):
    s0, s1 = variable((4, 6, 4, 4), 1), variable((4, 6, 4, 4), 2)
    y = cell(s0, s1, drop_prob)
    y.forward()
    first = y.d.copy()
    y.forward()
    return first, y.d.copy()


def test_train_cell_drops_paths_only_of_non_identity_ops_while_training():
    identities = ([("skip_connect", 0), ("skip_connect", 1)] * 2, [2, 3])
    cell = TrainCell(*identities, 6, 6, 4, reduction=False, reduction_prev=False)
    first, second = _outputs_of_two_passes(cell, 0.5)
    np.testing.assert_array_equal(first, second)  # nothing to drop
    convs = ([("sep_conv_3x3", 0), ("dil_conv_3x3", 1)] * 2, [2, 3])
    cell = TrainCell(*convs, 6, 6, 4, reduction=False, reduction_prev=False)
    first, second = _outputs_of_two_passes(cell, 0.5)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(*_outputs_of_two_passes(cell, 0.0))
    cell.apply(training=False)
    np.testing.assert_array_equal(*_outputs_of_two_passes(cell, 0.5))


def test_train_cell_builds_the_genotype_ops_with_reduction_strides():
    cell = TrainCell(DARTS_V2.reduce, DARTS_V2.reduce_concat, 6, 6, 4, reduction=True,
                     reduction_prev=False)
    kinds = [type(op).__name__ for op in cell.ops]
    # skip_connect from a cell input reduces; from a node it is the identity
    assert kinds == ["MaxPool", "MaxPool", "Identity", "MaxPool", "MaxPool", "Identity",
                     "Identity", "MaxPool"]
    assert cell.multiplier == 4
    assert cell(variable((2, 6, 7, 7)), variable((2, 6, 7, 7))).shape == (2, 16, 4, 4)


def test_aux_pooling_is_the_papers_for_8x8_and_gives_2x2_for_any_size():
    assert aux_pooling(8) == (5, 3)
    for size in range(2, 65):
        kernel, stride = aux_pooling(size)
        assert 1 <= kernel <= size and (size - kernel) // stride + 1 == 2, size
    with pytest.raises(ValueError, match="aux_pooling: size"):
        aux_pooling(1)


@pytest.mark.parametrize("shape", [(8, 8), (2, 2), (1, 1), (7, 7), (3, 1), (16, 5)])
def test_auxiliary_head_works_for_any_map_size(shape):
    head = AuxiliaryHead(6, 10)
    y = head(variable((2, 6) + shape))
    y.forward()
    assert y.shape == (2, 10) and np.isfinite(y.d).all()


def test_auxiliary_head_layers():
    head = AuxiliaryHead(6, 10)
    convs = [m for m in head.features if isinstance(m, Mo.Conv)]
    assert [c.W.shape for c in convs] == [(128, 6, 1, 1), (768, 128, 2, 2)]
    assert head.classifier.W.shape == (768, 10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"SearchCell: alphas: expected 5 parameters"):
        SearchCell(4, 4, 4, False, False, num_nodes=2, multiplier=2, mode="full",
                   alphas=[])
    with pytest.raises(ValueError, match=r"drop_path: drop_prob: expected a float in \[0"):
        drop_path(variable((2, 3, 4, 4)), 1.0)
