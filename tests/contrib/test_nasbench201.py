"""NAS-Bench-201: parameter counts equal to the authors' PyTorch TinyNetwork (worked out
by hand below from their definitions), architecture strings both ways for all 15,625
cells, malformed strings refused naming the problem, arch.json with ``arch_str``,
the supernet sharing one alpha per edge, and the picture."""
import itertools
import json
import re

import numpy as np
import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.cli import main
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.nasbench201 import (EDGES, LABELS, OPS, NasBench201Space,
                                            arch_str, parse_arch_str)
from nnabla_nas.contrib.spaces import SEARCH_SPACES, load_architecture

from .space_checks import (check_inference, check_random_architecture_trains,
                           check_supernet_modes, trainable_parameters)

SPACE = NasBench201Space
EXAMPLE = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
           "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


def arch(text):
    return Architecture("nasbench201", {}, parse_arch_str(text))


def uniform(op):
    return "+".join("|" + "|".join(f"{op}~{j}" for j in range(i)) + "|" for i in (1, 2, 3))


def built(text, channels=16, cells=5, shape=(3, 32, 32), classes=10):
    return SPACE.build_train(arch(text), SPACE.TrainConfig(channels, cells), shape, classes,
                             np.random.RandomState(0))


# Hand arithmetic from TinyNetwork(C=16, N=5, genotype, 10 classes), cell_operations.py:
#   stem: Conv2d(3, 16, 3, bias=False) + BatchNorm2d(16)      = 3*16*9 + 2*16   = 464
#   ResNetBasicblock(cin, cout, 2): ReLUConvBN(cin, cout, 3) + ReLUConvBN(cout, cout, 3)
#       (bias = not affine = False; affine BN)
#       + AvgPool2d(2) + Conv2d(cin, cout, 1, no bias)
#     (16, 32): 16*32*9 + 2*32 + 32*32*9 + 2*32 + 16*32 = 4608+64+9216+64+512   = 14464
#     (32, 64): 32*64*9 + 2*64 + 64*64*9 + 2*64 + 32*64 = 18432+128+36864+128+2048 = 57600
#   lastact BatchNorm2d(64) = 128; classifier Linear(64, 10) = 64*10 + 10 = 650
#   every cell without weights: 464 + 14464 + 57600 + 128 + 650            = 73306
#   an edge of a cell of c channels: nor_conv_3x3 = 9c^2 + 2c, nor_conv_1x1 = c^2 + 2c,
#     none / skip_connect / avg_pool_3x3 (C_in == C_out: no 1x1 preprocess) = 0
#   conv3 edges: c=16: 2304+32 = 2336, c=32: 9216+64 = 9280, c=64: 36864+128 = 36992
#   conv1 edges: c=16: 256+32 = 288, c=32: 1024+64 = 1088, c=64: 4096+128 = 4224
BASE = 73306
CONV3, CONV1 = 2336 + 9280 + 36992, 288 + 1088 + 4224  # one edge in each stage's cell


@pytest.mark.parametrize("text,count", [
    (uniform("none"), BASE),  # 73,306
    (uniform("skip_connect"), BASE),
    (uniform("avg_pool_3x3"), BASE),
    (uniform("nor_conv_3x3"), BASE + 5 * 6 * CONV3),  # 6 edges x 5 cells: 1,531,546
    (uniform("nor_conv_1x1"), BASE + 5 * 6 * CONV1),  # 241,306
    (EXAMPLE, BASE + 5 * 3 * CONV3),  # three 3x3 convolutions: 802,426
    ("|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|",
     BASE + 5 * (2 * CONV1 + CONV3)),  # an edge out of a node whose inputs are all none
])
def test_parameters_equal_the_authors_tiny_network(text, count):
    assert count == {uniform("none"): 73306, uniform("nor_conv_3x3"): 1531546,
                     EXAMPLE: 802426}.get(text, count)
    net = built(text)
    assert trainable_parameters(net) == count
    check_inference(net, (3, 32, 32))


def test_all_15625_cells_round_trip_through_their_strings():
    seen = set()
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        choices = dict(zip(LABELS, ops))
        text = arch_str(choices)
        assert parse_arch_str(text) == choices
        seen.add(text)
    assert len(seen) == 15625 == SPACE.size({})
    assert arch_str(parse_arch_str(EXAMPLE)) == EXAMPLE


def test_inputs_in_any_order_are_read_and_written_back_in_order():
    shuffled = "|nor_conv_3x3~0|+|avg_pool_3x3~1|nor_conv_3x3~0|" \
               "+|skip_connect~2|nor_conv_3x3~1|skip_connect~0|"
    assert arch_str(parse_arch_str(shuffled)) == EXAMPLE


@pytest.mark.parametrize("text,message", [
    ("|nor_conv_3x3~0|+|none~0|none~1|", "expected 3 nodes separated by '+', got 2"),
    (EXAMPLE + "+|none~0|", "expected 3 nodes separated by '+', got 4"),
    (EXAMPLE.replace("avg_pool_3x3", "conv_9x9"), "node 2: unknown operation 'conv_9x9'"),
    (EXAMPLE.replace("skip_connect~2", "skip_connect~3"),
     "node 3: edge index 3 out of range: node 3 takes inputs 0..2"),
    (EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3~0"), "node 2: input 0 given twice"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2: no operation for inputs [1]"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1: expected 'op~j'"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1: expected '|op~j|...|'"),
])
def test_malformed_strings_name_the_problem(text, message):
    with pytest.raises(ValueError) as e:
        parse_arch_str(text)
    assert re.search(message, str(e.value)) or message in str(e.value), str(e.value)


def test_the_command_line_refuses_a_malformed_string_in_one_line(capsys):
    bad = EXAMPLE.replace("skip_connect~2", "skip_connect~5")
    code = main(["estimate", "--arch", bad, "--space", "nasbench201", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "edge index 5 out of range" in err and err.startswith("error: --arch: ")


def test_arch_json_holds_the_string_and_may_hold_only_it(tmp_path):
    a = arch(EXAMPLE)
    path = tmp_path / "arch.json"
    SPACE.save_arch(a, str(path))
    data = json.loads(path.read_text())
    assert data["arch_str"] == EXAMPLE and data["choices"] == a.choices
    assert SPACE.load_arch(str(path)) == a == load_architecture(str(path))
    only = tmp_path / "only.json"
    only.write_text(json.dumps({"arch_str": EXAMPLE}))
    assert SPACE.load_arch(str(only)) == a == load_architecture(str(only))
    only.write_text(json.dumps({"space": "nasbench201", "arch_str": EXAMPLE}))
    assert load_architecture(str(only)) == a
    assert SPACE.load_arch(EXAMPLE) == a  # a string where a file is expected
    # the string and the choices disagree
    data["arch_str"] = uniform("none")
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="arch_str: a different architecture"):
        SPACE.load_arch(str(path))
    only.write_text(json.dumps({"arch_str": "|none~0|"}))
    with pytest.raises(ValueError, match=f"{only}: arch_str: expected 3 nodes"):
        SPACE.load_arch(str(only))
    only.write_text(json.dumps({"arch_str": EXAMPLE, "extra": 1}))
    with pytest.raises(ValueError, match="expected the key 'arch_str'"):
        SPACE.load_arch(str(only))


def test_derived_architectures_are_described_by_their_string():
    assert SPACE.describe(arch(EXAMPLE)) == EXAMPLE


def test_the_supernet_shares_one_alpha_per_edge_across_cells(tmp_path):
    options = SPACE.SearchConfig(channels=2, cells=2)
    model = check_supernet_modes(SPACE, options, (1, 8, 8))
    alphas = model.get_arch_parameters()
    assert len(alphas) == 6 and all(p.shape == (5,) for p in alphas.values())
    mixed = [m for _, m in model.get_modules() if hasattr(m, "label") and m.label]
    assert len(mixed) == 6 * 2 * 3  # 6 edges, 2 cells in each of 3 stages


def test_a_random_architecture_trains():
    check_random_architecture_trains(SPACE, SPACE.SearchConfig(2, 1),
                                     SPACE.TrainConfig(2, 1), (1, 8, 8))


def test_the_picture_has_the_four_nodes_and_six_labelled_edges(tmp_path):
    from nnabla_nas.visual.dot import GraphvizMissing
    try:
        written = SPACE.draw(arch(EXAMPLE), str(tmp_path))
    except GraphvizMissing as e:
        written = list(e.written)
    gv = [p for p in written if p.endswith(".gv")]
    assert len(gv) == 1
    text = open(gv[0]).read()
    for i, j in EDGES:
        assert f'"{j}" -> "{i}"' in text
    assert text.count('label="nor_conv_3x3"') == 3 and "skip_connect" in text
    assert SEARCH_SPACES.get("nasbench201") is SPACE
