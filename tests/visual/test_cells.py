"""DARTS cells as DOT text and pictures."""
import pytest

from nnabla_nas.contrib.darts.genotype import DARTS_V2, Genotype
from nnabla_nas.visual.cells import cell_dot, cells_dots, draw_cells
from nnabla_nas.visual.dot import GraphvizMissing
from tests.visual.dotfiles import graphviz_layout, needs_dot, parse_dot

# DARTS_V2's normal cell, edge by edge: (from, to, op).
NORMAL_EDGES = [("c_{k-2}", "0", "sep_conv_3x3"), ("c_{k-1}", "0", "sep_conv_3x3"),
                ("c_{k-2}", "1", "sep_conv_3x3"), ("c_{k-1}", "1", "sep_conv_3x3"),
                ("c_{k-1}", "2", "sep_conv_3x3"), ("c_{k-2}", "2", "skip_connect"),
                ("c_{k-2}", "3", "skip_connect"), ("0", "3", "dil_conv_3x3")]
CONCAT_EDGES = [(str(n), "c_{k}") for n in range(4)]


def cells_of(genotype):
    """A genotype as the plain data visual.cells draws (what DartsSpace.draw passes)."""
    return {"normal": (genotype.normal, genotype.normal_concat),
            "reduce": (genotype.reduce, genotype.reduce_concat)}


def genotype_dots(genotype):
    return cells_dots(cells_of(genotype))


def test_normal_cell_has_the_papers_nodes_and_labelled_edges():
    nodes, edges = parse_dot(genotype_dots(DARTS_V2)["normal"])
    assert list(nodes) == ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"]
    assert {nodes[n]["fillcolor"] for n in ("0", "1", "2", "3")} == {"lightblue"}
    ops = [(t, h, a["label"]) for t, h, a in edges if "label" in a]
    assert ops == NORMAL_EDGES
    assert [(t, h) for t, h, a in edges if "label" not in a] == CONCAT_EDGES


def test_reduce_cell_draws_edges_from_intermediate_nodes():
    nodes, edges = parse_dot(genotype_dots(DARTS_V2)["reduce"])
    assert ("0", "2", {"label": "skip_connect"}) in edges
    assert sum(1 for _, h, _ in edges if h == "c_{k}") == 4


def test_concat_and_node_count_follow_the_cell():
    # Two nodes, only the last concatenated, and a 'none' edge drawn dashed.
    cell = [("none", 0), ("sep_conv_5x5", 1), ("max_pool_3x3", 2), ("skip_connect", 0)]
    nodes, edges = parse_dot(cell_dot(cell, [3], title="tiny"))
    assert list(nodes) == ["c_{k-2}", "c_{k-1}", "0", "1", "c_{k}"]
    assert edges[0] == ("c_{k-2}", "0", {"label": "none", "style": "dashed",
                                         "color": "gray"})
    assert edges[2][:2] == ("0", "1")
    assert [(t, h) for t, h, _ in edges if h == "c_{k}"] == [("1", "c_{k}")]


def test_cells_must_be_a_mapping_of_edges_and_concat():
    with pytest.raises(TypeError, match="expected a mapping of name to"):
        cells_dots(DARTS_V2)
    with pytest.raises(TypeError, match=r"cells\['normal'\]: expected \(edges, concat\)"):
        cells_dots({"normal": DARTS_V2.normal})


def test_other_cell_names_are_captioned_by_their_name():
    dots = cells_dots({"stem": ([("sep_conv_3x3", 0), ("skip_connect", 1)], [2])})
    assert list(dots) == ["stem"] and 'label="stem cell"' in dots["stem"]


def test_without_graphviz_both_cells_are_still_written_as_text(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GraphvizMissing) as caught:
        draw_cells(cells_of(DARTS_V2), tmp_path / "pictures", search_path=str(empty))
    assert [p.rsplit("/", 1)[-1] for p in caught.value.written] == ["normal.gv",
                                                                   "reduce.gv"]
    assert (tmp_path / "pictures" / "reduce.gv").read_text() == \
        genotype_dots(DARTS_V2)["reduce"]


@needs_dot
def test_graphviz_reads_the_cell_as_drawn(tmp_path):
    genotype = Genotype(normal=[("sep_conv_3x3", 1), ("skip_connect", 0)],
                        normal_concat=[2],
                        reduce=[("max_pool_3x3", 0), ("avg_pool_3x3", 1)],
                        reduce_concat=[2])
    nodes, edges = graphviz_layout(genotype_dots(genotype)["normal"], tmp_path)
    assert set(nodes) == {"c_{k-2}", "c_{k-1}", "0", "c_{k}"}
    assert sorted(edges) == [("0", "c_{k}", None), ("c_{k-1}", "0", "sep_conv_3x3"),
                             ("c_{k-2}", "0", "skip_connect")]


@needs_dot
def test_draw_cells_writes_both_pictures(tmp_path):
    paths = draw_cells(cells_of(DARTS_V2), tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["normal.gv", "normal.pdf", "normal.png",
                     "reduce.gv", "reduce.pdf", "reduce.png"]
    assert (tmp_path / "reduce.png").read_bytes()[:4] == b"\x89PNG"
