"""MobileNetV2-style block chains as DOT text and pictures."""
import pytest

from nnabla_nas.visual.blocks import KERNEL_COLOURS, blocks_dot, draw_blocks, kernel_size
from nnabla_nas.visual.dot import GraphvizMissing
from tests.visual.dotfiles import needs_dot, parse_dot

BLOCKS = [("k3_e1", 16, 1), ("k5_e6", 24, 2), ("skip", 24, 1), ("k7_e3", 40, 2),
          ("k9_e3", 40, 1)]


def test_blocks_form_one_chain_from_stem_to_head():
    nodes, edges = parse_dot(blocks_dot(BLOCKS, stem="conv 32", head="pool, fc"))
    names = ["stem", "b0", "b1", "b2", "b3", "b4", "head"]
    assert list(nodes) == names
    assert [(t, h) for t, h, _ in edges] == list(zip(names, names[1:]))
    assert nodes["stem"]["label"] == "conv 32"


def test_blocks_are_coloured_by_kernel_and_stride_two_is_marked():
    nodes, _ = parse_dot(blocks_dot(BLOCKS))
    assert nodes["b0"]["fillcolor"] == KERNEL_COLOURS[3]
    assert nodes["b1"]["fillcolor"] == KERNEL_COLOURS[5]
    assert nodes["b3"]["fillcolor"] == KERNEL_COLOURS[7]
    assert nodes["b4"]["fillcolor"] not in KERNEL_COLOURS.values()
    assert nodes["b2"]["style"] == "dashed, rounded"
    assert [n for n, a in nodes.items() if a.get("peripheries") == "2"] == ["b1", "b3"]
    assert nodes["b1"]["label"] == "k5_e6\\n24 ch\\nstride 2"
    assert nodes["b0"]["label"] == "k3_e1\\n16 ch"


@pytest.mark.parametrize("op, kernel", [("k5_e6", 5), ("k11", 11), ("skip", None),
                                        ("k", None), ("e6_k3", None)])
def test_kernel_size_is_read_from_the_start_of_the_label(op, kernel):
    assert kernel_size(op) == kernel


@pytest.mark.parametrize("blocks, message", [
    ([("k3_e1", 16)], r"blocks\[0\]: expected \(op, out_channels, stride\)"),
    ([("k3_e1", 16, 1), ("", 8, 1)], r"blocks\[1\]\[0\]: expected an op label"),
    ([("k3_e1", 0, 1)], r"blocks\[0\]\[1\]: expected a positive int, got 0"),
    ([("k3_e1", 8, 1.5)], r"blocks\[0\]\[2\]: expected a positive int, got 1.5"),
    ("k3_e1", r"blocks: expected a sequence"),
])
def test_bad_blocks_are_named(blocks, message):
    with pytest.raises(ValueError, match=message):
        blocks_dot(blocks)


def test_without_graphviz_the_text_is_written(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GraphvizMissing):
        draw_blocks(BLOCKS, tmp_path / "pics", name="net", search_path=str(empty))
    assert (tmp_path / "pics" / "net.gv").read_text() == blocks_dot(BLOCKS)


@needs_dot
def test_draw_blocks_writes_png_and_pdf(tmp_path):
    paths = draw_blocks(BLOCKS, tmp_path, stem="stem", head="head")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["blocks.gv", "blocks.png",
                                                     "blocks.pdf"]
    assert (tmp_path / "blocks.pdf").read_bytes().startswith(b"%PDF-")
