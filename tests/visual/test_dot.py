"""DOT text and its drawing: quoting, the missing-graphviz message, dot's failures."""
import doctest

import pytest

from nnabla_nas.visual import dot as dot_module
from nnabla_nas.visual.dot import (Digraph, GraphvizError, GraphvizMissing, find_dot,
                                   quote, render, render_all)
from tests.visual.dotfiles import (drawn_text, fake_dot, graphviz_layout, needs_dot,
                                   parse_dot, posix_only)

PNG = b"\x89PNG\r\n\x1a\n"
TRICKY = 'say "hi"\\n is not a break\nc_{k-1} -> é; [x]'


def test_docstring_examples():
    assert doctest.testmod(dot_module).failed == 0


@pytest.mark.parametrize("text, quoted", [
    ("plain", '"plain"'),
    ('a "b"', '"a \\"b\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("two\nlines", '"two\\nlines"'),
    ("cr\r\nlf", '"cr\\nlf"'),
    ("node", '"node"'),
    (3, '"3"'),
])
def test_quote_escapes_quotes_backslashes_and_line_breaks(text, quoted):
    assert quote(text) == quoted


def test_digraph_source_has_every_statement_quoted_in_order():
    g = Digraph(rankdir="LR", label=None)
    g.defaults("node", shape="box")
    g.node("edge", label=TRICKY, color="red")
    g.edge("edge", "graph", label="x")
    g.same_rank(["edge", "graph"])
    text = g.source()
    assert text.splitlines() == [
        "digraph {",
        '  graph [rankdir="LR"];',
        '  node [shape="box"];',
        f'  "edge" [label={quote(TRICKY)}, color="red"];',
        '  "edge" -> "graph" [label="x"];',
        '  { rank=same; "edge"; "graph"; }',
        "}"]
    nodes, edges = parse_dot(text)
    assert nodes == {"edge": {"label": quote(TRICKY)[1:-1], "color": "red"}}
    assert edges == [("edge", "graph", {"label": "x"})]


@pytest.mark.parametrize("bad", ["1st", "has space", "a-b", ""])
def test_attribute_names_must_be_dot_names(bad):
    with pytest.raises(ValueError, match="is not a DOT name"):
        Digraph().node("a", **{bad: "v"})


def test_defaults_kind_is_node_or_edge():
    with pytest.raises(ValueError, match="expected 'node' or 'edge', got 'graph'"):
        Digraph().defaults("graph", rankdir="LR")


def test_missing_dot_gives_one_line_with_install_hints_and_keeps_the_text(tmp_path):
    empty = tmp_path / "no-dot-here"
    empty.mkdir()
    assert find_dot(str(empty)) is None
    source = Digraph().source()
    with pytest.raises(GraphvizMissing) as caught:
        render_all({"a": source, "b": source}, tmp_path / "out", search_path=str(empty))
    message = str(caught.value)
    assert "\n" not in message
    for hint in ("'dot'", "apt-get install graphviz", "brew install graphviz",
                 "https://graphviz.org/download/"):
        assert hint in message
    written = [tmp_path / "out" / "a.gv", tmp_path / "out" / "b.gv"]
    assert caught.value.written == [str(p) for p in written]
    assert all(p.read_text() == source for p in written)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.gv", "b.gv"]


def test_text_only_needs_no_graphviz(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = render("digraph { a; }\n", tmp_path / "g", formats=(), search_path=str(empty))
    assert paths == [str(tmp_path / "g.gv")]


@posix_only
def test_render_calls_dot_once_per_format_and_lists_what_it_wrote(tmp_path):
    # The stand-in copies its input to its output: dot -T<fmt> -o <out> <in>.
    bin_dir = fake_dot(tmp_path / "bin", 'echo "$1" >> "$(dirname "$4")/calls"\n'
                                         'cp "$4" "$3"')
    paths = render("digraph { a; }\n", tmp_path / "pic", formats=("png", "svg:cairo"),
                   search_path=bin_dir)
    assert paths == [str(tmp_path / n) for n in ("pic.gv", "pic.png", "pic.svg")]
    assert (tmp_path / "pic.svg").read_text() == "digraph { a; }\n"
    assert (tmp_path / "calls").read_text().split() == ["-Tpng", "-Tsvg:cairo"]
    assert not list(tmp_path.glob("*.tmp-*"))


@posix_only
def test_dot_failure_carries_its_error_output(tmp_path):
    bin_dir = fake_dot(tmp_path / "bin", 'echo "Error: syntax error in line 1" >&2\n'
                                         'exit 3')
    with pytest.raises(GraphvizError, match="exit status 3: Error: syntax error in line 1"):
        render("digraph {", tmp_path / "pic", search_path=bin_dir)
    assert not (tmp_path / "pic.png").exists()
    assert not list(tmp_path.glob("*.tmp-*"))


@posix_only
def test_dot_that_hangs_is_stopped(tmp_path):
    bin_dir = fake_dot(tmp_path / "bin", "exec sleep 10")
    with pytest.raises(GraphvizError, match="no answer after 0.3 s"):
        render("digraph { }", tmp_path / "pic", search_path=bin_dir, timeout=0.3)


@pytest.mark.parametrize("formats", [("-o/etc/x",), ("png pdf",), ("",), (None,)])
def test_formats_are_checked(tmp_path, formats):
    with pytest.raises(ValueError, match="expected graphviz output formats"):
        render("digraph { }", tmp_path / "pic", formats=formats)


def test_source_names_are_plain_file_names(tmp_path):
    with pytest.raises(ValueError, match="expected plain file names"):
        render_all({"../escape": "digraph { }"}, tmp_path)


@needs_dot
def test_real_dot_writes_png_and_pdf(tmp_path):
    g = Digraph()
    g.edge("a", "b", label="x")
    paths = render(g.source(), tmp_path / "sub" / "pic")
    assert paths == [str(tmp_path / "sub" / n) for n in ("pic.gv", "pic.png", "pic.pdf")]
    assert (tmp_path / "sub" / "pic.png").read_bytes().startswith(PNG)
    assert (tmp_path / "sub" / "pic.pdf").read_bytes().startswith(b"%PDF-")


@needs_dot
def test_real_dot_draws_escaped_text_as_given(tmp_path):
    g = Digraph()
    g.node("graph", label=TRICKY)
    g.edge("graph", 'q"uote', label="back\\slash")
    nodes, edges = graphviz_layout(g.source(), tmp_path)
    assert drawn_text(nodes["graph"]) == TRICKY.split("\n")
    assert edges == [("graph", 'q"uote', "back\\\\slash")]


@needs_dot
def test_real_dot_rejects_bad_text(tmp_path):
    with pytest.raises(GraphvizError, match="syntax error"):
        render("digraph { a -> }", tmp_path / "bad")
