"""NAS-Bench-101: parameter counts equal to NASBench-PyTorch's Network with its
defaults (worked out by hand below from nasbench_pytorch/model), pruning, the
validation rules on hand-made specs, sampling and mutation for random search and
evolution, arch.json with "matrix" and "ops", the size of the space, the picture."""
import json

import numpy as np
import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.cli import main
from nnabla_nas.contrib.nasbench101 import (PAIRS, NasBench101Space, arch_of_spec,
                                            check_spec, prune, spec_of, valid_masks,
                                            vertex_channels)
from nnabla_nas.contrib.spaces import load_architecture
from nnabla_nas.visual.dot import GraphvizMissing

from .space_checks import (check_inference, check_random_architecture_trains,
                           check_supernet_modes, trainable_parameters)

SPACE = NasBench101Space
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def params(matrix, ops):
    net = SPACE.build_train(arch_of_spec(matrix, ops), SPACE.TrainConfig(), (3, 32, 32),
                            10, np.random.RandomState(0))
    check_inference(net, (3, 32, 32))
    return trainable_parameters(net)


# Hand arithmetic from Network(spec) with its defaults (stem 128, 3 stacks of 3 cells,
# 10 classes): ConvBnRelu = Conv2d(bias=False) + BatchNorm2d (affine: 2 per channel).
#   stem ConvBnRelu(3, 128, 3) = 3*128*9 + 2*128 = 3712; Linear(512, 10) = 5130
#   cells (in, out): (128,128) x3; (128,256), (256,256) x2; (256,512), (512,512) x2
#   projection(in, c) = in*c + 2c; conv3x3 vertex of c = 9c^2 + 2c; conv1x1 = c^2 + 2c
# NASBench-PyTorch's current model.py (since commit 433cf59, July 2022, for TorchScript)
# also registers one scalar nn.Parameter per Placeholder module (2 per cell, plus one
# per vertex the input does not feed); they take no part in the computation and are not
# counted here, as the port did not have them before, nor the TensorFlow original.
STEM_AND_HEAD = 3712 + 5130
CELLS = [(128, 128)] * 3 + [(128, 256)] + [(256, 256)] * 2 + [(256, 512)] + [(512, 512)] * 2


def test_the_input_linked_to_the_output_only():
    # one projection per cell: 3*(128*128+256) + (128*256+512) + 2*(256*256+512)
    #   + (256*512+1024) + 2*(512*512+1024) = 49920 + 165376 + 658432
    expected = STEM_AND_HEAD + 49920 + 165376 + 658432
    assert expected == 882570
    assert params([[0, 1], [0, 0]], ["input", "output"]) == expected


def test_a_chain_through_one_conv3x3():
    # cell = projection(in, out) + conv3x3(out) = in*out + 2out + 9out^2 + 2out
    per_cell = [i * o + 2 * o + 9 * o * o + 2 * o for i, o in CELLS]
    assert per_cell[:2] == [164352, 164352] and per_cell[3] == 623616
    expected = STEM_AND_HEAD + sum(per_cell)
    assert expected == 10177674
    assert params([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"]) == expected


def test_uneven_channel_split_and_truncation():
    # 0->1, 0->3, 1->2, 2->3, 1->4, 2->4, 3->4 (4 = output): vertices 1, 2, 3 share the
    # output's channels, the first ones one more: 128 -> 43, 43, 42; 256 -> 86, 85, 85;
    # 512 -> 171, 171, 170; vertex 2 (43) feeds vertex 3 (42): truncated, no weights.
    # cell = projections 0->1, 0->3 + conv3x3 at 1 + conv1x1 at 2 (maxpool at 3: none)
    split = {128: (43, 43, 42), 256: (86, 85, 85), 512: (171, 171, 170)}

    def cell(i, o):
        c1, c2, c3 = split[o]
        return (i * c1 + 2 * c1) + (i * c3 + 2 * c3) + (9 * c1 * c1 + 2 * c1) \
            + (c2 * c2 + 2 * c2)

    assert cell(128, 128) == 128 * 43 + 86 + 128 * 42 + 84 + 9 * 43 ** 2 + 86 + 43 ** 2 + 86
    matrix = [[0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0]]
    expected = STEM_AND_HEAD + sum(cell(i, o) for i, o in CELLS)
    assert params(matrix, ["input", C3, C1, MP, "output"]) == expected
    assert vertex_channels(128, 128, np.array(matrix)) == [128, 43, 43, 42, 128]


def test_the_benchmark_readme_cell():
    # output fed by 1, 2, 4, 5: 128 -> 32 each (256 -> 64, 512 -> 128); 3 feeds 4: same
    # projections 0->1, 0->2, 0->3, 0->5; conv1x1 at 1, conv3x3 at 2, 3, 4; maxpool at 5
    def cell(i, o):
        c = o // 4
        return 4 * (i * c + 2 * c) + (c * c + 2 * c) + 3 * (9 * c * c + 2 * c)

    matrix = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0, 0, 0]]
    expected = STEM_AND_HEAD + sum(cell(i, o) for i, o in CELLS)
    assert expected == 2694282
    assert params(matrix, ["input", C1, C3, C3, C3, MP, "output"]) == expected


def test_vertices_off_every_path_are_pruned():
    # vertex 2 has no input (dangling output side), vertex 3 reaches no output
    matrix = [[0, 1, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0],
              [0, 0, 0, 0, 0]]
    arch = arch_of_spec(matrix, ["input", C3, C1, C3, "output"])
    m, ops = prune(*spec_of(arch))
    assert ops == ["input", C3, "output"]
    assert m.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    chain = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert params(matrix, ["input", C3, C1, C3, "output"]) == \
        params(chain, ["input", C3, "output"])


@pytest.mark.parametrize("matrix,ops,message", [
    ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"],
     r"matrix\[2\]\[0\]: an edge 2->0 backwards makes a cycle"),
    ([[1, 1], [0, 0]], ["input", "output"], r"matrix\[0\]\[0\]: an edge 0->0 onto itself"),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"],
     r"ops\[1\]: unknown op 'conv5x5'"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"],
     "matrix: no path from input to output"),
    ([[0] + [1] * 6] + [[0] * (k + 2) + [1] * (5 - k) for k in range(5)] + [[0] * 7],
     ["input", C3, C3, C3, C3, C3, "output"], "matrix: 21 edges, at most 9"),
    ([[0, 1], [0, 0]], ["input", C3], "ops: expected 'input' first and 'output' last"),
    ([[0, 1], [0, 0]], ["input", C3, "output"], "matrix: expected 3 rows of 3"),
])
def test_invalid_specs_are_refused_naming_which_rule(matrix, ops, message):
    with pytest.raises(ValueError, match=message):
        arch_of_spec(matrix, ops)


def test_the_command_line_refuses_an_invalid_spec_in_one_line(tmp_path, capsys):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"matrix": [[0, 1, 0], [0, 0, 0], [0, 0, 0]],
                                "ops": ["input", C3, "output"]}))
    code = main(["estimate", "--arch", str(path), "--space", "nasbench101", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no path from input to output" in err


def test_arch_json_holds_matrix_and_ops_and_may_hold_only_them(tmp_path):
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0]]
    ops = ["input", C3, MP, C1, "output"]
    arch = arch_of_spec(matrix, ops)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"matrix": matrix, "ops": ops}))
    assert SPACE.load_arch(str(path)) == arch == load_architecture(str(path))
    out = tmp_path / "arch.json"
    SPACE.save_arch(arch, str(out))
    data = json.loads(out.read_text())
    assert len(data["matrix"]) == 7 and data["ops"][0] == "input"
    assert SPACE.load_arch(str(out)) == arch
    assert arch_of_spec(data["matrix"], data["ops"]) == arch  # the padded form is the same
    data["ops"][1] = C1  # the notation and the choices disagree
    out.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="matrix, ops: a different architecture"):
        SPACE.load_arch(str(out))


def test_choices_with_too_many_edges_are_refused_naming_the_rule():
    arch = SPACE.sample({}, np.random.RandomState(0))
    every = arch.replace({f"edge/{i}-{j}": "1" for i, j in PAIRS})
    with pytest.raises(ValueError, match="choices: 21 edges, at most 9"):
        SPACE.validate(every)


def test_the_size_counts_valid_matrices_times_ops_and_the_masks_are_right():
    masks = valid_masks()
    rng = np.random.RandomState(0)
    for mask in rng.randint(0, 1 << 21, size=3000):
        matrix = np.zeros((7, 7), dtype=np.int64)
        for k, (i, j) in enumerate(PAIRS):
            matrix[i, j] = (mask >> k) & 1
        try:
            check_spec(matrix)
            ok = True
        except ValueError:
            ok = False
        assert masks[mask] == ok
    assert SPACE.size({}) == int(masks.sum()) * 3 ** 5


def test_sampling_is_uniform_over_valid_specs_and_mutation_flips_an_edge_or_an_op():
    rng = np.random.RandomState(1)
    archs = [SPACE.sample({}, rng) for _ in range(400)]
    assert all(SPACE.is_valid(a) for a in archs)
    # uniform over valid specs: vertex ops are independent of the edges and uniform
    ops = [a.choices["vertex3"] for a in archs]
    assert all(60 < ops.count(o) < 210 for o in (C3, C1, MP))
    edits = {"edge": 0, "vertex": 0}
    arch = archs[0]
    for _ in range(200):
        mutant = SPACE.mutate(arch, rng)
        changed = [k for k in arch.choices if arch.choices[k] != mutant.choices[k]]
        assert len(changed) == 1 and SPACE.is_valid(mutant)
        edits[changed[0].split("/")[0].rstrip("12345")] += 1
        arch = mutant
    assert edits["edge"] > 0 and edits["vertex"] > 0


def test_supernet_and_a_random_architecture_run_and_train():
    options = SPACE.SearchConfig(stem_channels=2, stacks=2, cells=1)
    check_supernet_modes(SPACE, options, (1, 8, 8))
    check_random_architecture_trains(SPACE, options, SPACE.TrainConfig(3, 2, 1), (1, 8, 8))


def test_the_picture_has_the_pruned_vertices_and_edges(tmp_path):
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1],
              [0, 0, 0, 0, 0]]
    arch = arch_of_spec(matrix, ["input", C3, MP, C1, "output"])
    try:
        written = SPACE.draw(arch, str(tmp_path))
    except GraphvizMissing as e:
        written = list(e.written)
    text = open([p for p in written if p.endswith(".gv")][0]).read()
    assert text.count(" -> ") == 5 and f'label="{MP}"' in text and "output" in text
