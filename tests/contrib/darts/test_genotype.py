"""Genotype: the DARTS derivation rule, validation and arch.json files."""
import doctest
import json
import os
import re

import numpy as np
import pytest

from nnabla_nas.contrib.darts.genotype import (DARTS_V2, Genotype, derive_cell,
                                               derive_genotype, load_genotype,
                                               num_edges, save_genotype)
from nnabla_nas.contrib.darts.ops import PRIMITIVES

OP = {name: k for k, name in enumerate(PRIMITIVES)}


def hand_set_alphas():
    """Alphas of a 4-node cell (14 edges) and the cell the DARTS rule derives from them.

    All logits are 0 (weights 1/8) except the ones set here; the strength of an edge is
    its largest weight over the candidates other than 'none'.
    """
    a = np.zeros((14, len(PRIMITIVES)))
    # node 0, edges 0-1 (inputs 0, 1): both kept, the stronger first; 'none' dominates
    # edge 0 but is never chosen.
    a[0, OP["none"]], a[0, OP["sep_conv_5x5"]] = 5.0, 1.0        # strength 0.017
    a[1, OP["max_pool_3x3"]] = 2.0                               # strength 0.51
    # node 1, edges 2-4 (inputs 0, 1, 2): edge 3 has the largest weight of the whole
    # cell, on 'none', so it is the weakest edge and is dropped.
    a[2, OP["skip_connect"]] = 1.0                               # 0.28
    a[3, OP["none"]] = 10.0                                      # ~0.00005
    a[4, OP["dil_conv_3x3"]] = 3.0                               # 0.74
    # node 2, edges 5-8 (inputs 0..3): ranking keeps inputs 1 and 0, not 3 and 2.
    a[5, OP["avg_pool_3x3"]] = 1.0                               # 0.28
    a[6, OP["sep_conv_3x3"]] = 2.0                               # 0.51
    a[8, OP["sep_conv_3x3"]], a[8, OP["dil_conv_5x5"]] = 0.5, 0.6  # 0.19 < 0.28
    # (edge 7 keeps every logit at 0: strength 0.125)
    # node 3, edges 9-13 (inputs 0..4).
    a[11, OP["none"]], a[11, OP["max_pool_3x3"]] = 3.0, 0.5      # 0.06
    a[12, OP["avg_pool_3x3"]] = 0.3                              # 0.16
    a[13, OP["sep_conv_5x5"]] = 1.0                              # 0.28
    cell = (("max_pool_3x3", 1), ("sep_conv_5x5", 0),
            ("dil_conv_3x3", 2), ("skip_connect", 0),
            ("sep_conv_3x3", 1), ("avg_pool_3x3", 0),
            ("sep_conv_5x5", 4), ("avg_pool_3x3", 3))
    return a, cell


def test_number_of_edges():
    assert [num_edges(n) for n in (1, 2, 3, 4)] == [2, 5, 9, 14]


def test_derivation_ignores_none_and_keeps_the_two_strongest_edges():
    alphas, expected = hand_set_alphas()
    assert derive_cell(alphas, 4) == expected


def test_derivation_breaks_ties_by_lower_input_index():
    # All weights equal: every node keeps inputs 0 and 1, with the first candidate
    # other than 'none'.
    cell = derive_cell(np.zeros((5, 8)), num_nodes=2)
    assert cell == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 2


def test_derive_genotype_concatenates_the_last_multiplier_nodes():
    alphas, expected = hand_set_alphas()
    g = derive_genotype(alphas, np.zeros_like(alphas), num_nodes=4, multiplier=2)
    assert g.normal == expected and g.normal_concat == (4, 5) and g.reduce_concat == (4, 5)
    with pytest.raises(ValueError, match=r"derive_cell: alpha: expected shape \(14, 8\)"):
        derive_cell(np.zeros((13, 8)), 4)


def test_genotype_is_frozen_hashable_and_accepts_lists():
    g = Genotype([["sep_conv_3x3", 0], ["skip_connect", 1]], [2],
                 [("max_pool_3x3", 0), ("max_pool_3x3", 1)], range(2, 3))
    assert g.normal == (("sep_conv_3x3", 0), ("skip_connect", 1))
    assert g.reduce_concat == (2,)
    assert hash(g) == hash(Genotype(*[getattr(g, k) for k in
                                      ("normal", "normal_concat", "reduce",
                                       "reduce_concat")]))
    with pytest.raises(AttributeError):
        g.normal = ()


def test_genotype_validates_on_construction():
    with pytest.raises(ValueError, match=re.escape(
            "Genotype: normal[1][0]: unknown candidate operation 'skip'")):
        Genotype([("sep_conv_3x3", 0), ("skip", 1)], [2], DARTS_V2.reduce, [2, 3, 4, 5])
    with pytest.raises(ValueError, match=re.escape("Genotype: reduce_concat[0]")):
        Genotype(DARTS_V2.normal, [2], DARTS_V2.reduce, [6])


def test_darts_v2_is_a_four_node_genotype():
    assert len(DARTS_V2.normal) == len(DARTS_V2.reduce) == 8
    assert DARTS_V2.normal_concat == DARTS_V2.reduce_concat == (2, 3, 4, 5)


# ------------------------------------------------------------------- arch.json
def test_arch_json_round_trip_and_readable_format(tmp_path):
    path = tmp_path / "arch.json"
    save_genotype(DARTS_V2, path)
    assert load_genotype(path) == DARTS_V2
    assert os.listdir(tmp_path) == ["arch.json"]  # no temporary file left behind
    text = path.read_text()
    data = json.loads(text)
    assert data["space"] == "darts" and data["version"] == 1
    lines = text.splitlines()
    assert lines[:5] == ['{', '  "space": "darts",', '  "version": 1,', '  "normal": [',
                         '    ["sep_conv_3x3", 0],']
    assert '  "normal_concat": [2, 3, 4, 5],' in lines
    # a second save replaces the file
    g = derive_genotype(*[hand_set_alphas()[0]] * 2)
    save_genotype(g, str(path))
    assert load_genotype(str(path)) == g


def _valid():
    return DARTS_V2.to_dict()


def _set(data, keys, value):
    target = data
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return data


INVALID = {
    # name: (how to break a valid dict, the key the message must name)
    "unknown op": (lambda d: _set(d, ["normal", 3, 0], "sep_conv_9x9"),
                   "normal[3][0]: unknown candidate operation 'sep_conv_9x9'; did you "
                   "mean 'sep_conv_5x5'? Valid names: avg_pool_3x3, dil_conv_3x3"),
    "op not a string": (lambda d: _set(d, ["reduce", 0, 0], 3), "reduce[0][0]"),
    "not a pair": (lambda d: _set(d, ["normal", 3], ["sep_conv_3x3"]), "normal[3]"),
    "index too large": (lambda d: _set(d, ["normal", 5, 1], 4),
                        "normal[5][1]: expected an input index in 0..3"),
    "negative index": (lambda d: _set(d, ["reduce", 0, 1], -1), "reduce[0][1]"),
    "bool index": (lambda d: _set(d, ["normal", 0, 1], True), "normal[0][1]"),
    "float index": (lambda d: _set(d, ["normal", 0, 1], 1.0), "normal[0][1]"),
    "odd pair count": (lambda d: _set(d, ["normal"], d["normal"][:3]),
                       "normal: expected a non-empty list"),
    "empty cell": (lambda d: _set(d, ["reduce"], []), "reduce: expected"),
    "cell not a list": (lambda d: _set(d, ["reduce"], "max_pool_3x3"), "reduce: expected"),
    "concat state of an input": (lambda d: _set(d, ["reduce_concat", 0], 1),
                                 "reduce_concat[0]"),
    "concat state past the nodes": (lambda d: _set(d, ["normal_concat"], [6]),
                                    "normal_concat[0]"),
    "repeated concat state": (lambda d: _set(d, ["normal_concat"], [2, 2]),
                              "normal_concat: states must be distinct"),
    "unknown key": (lambda d: _set(d, ["normal_nodes"], 4), "normal_nodes: unknown key"),
    "missing key": (lambda d: {k: v for k, v in d.items() if k != "reduce"},
                    "reduce: missing key"),
    "other space": (lambda d: _set(d, ["space"], "nasbench201"),
                    "space: expected 'darts', got 'nasbench201'"),
    "future version": (lambda d: _set(d, ["version"], 2), "version: expected 1, got 2"),
    "version as string": (lambda d: _set(d, ["version"], "1"), "version: expected 1"),
    "not an object": (lambda d: [d], "expected a JSON object"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_arch_json_names_file_and_key(tmp_path, case):
    breaks, message = INVALID[case]
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(breaks(_valid())))
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}")):
        load_genotype(path)


@pytest.mark.parametrize("text, message", [
    ('{"space": "darts",', "not valid JSON"),
    ('{"space": "darts", "space": "darts"}', "space: key given more than once"),
])
def test_malformed_arch_json_names_the_file(tmp_path, text, message):
    path = tmp_path / "arch.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}")):
        load_genotype(path)


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_genotype(tmp_path / "absent.json")
    with pytest.raises(TypeError, match="save_genotype: genotype: expected a Genotype"):
        save_genotype(DARTS_V2.to_dict(), tmp_path / "arch.json")
    assert not os.listdir(tmp_path)


def test_docstring_examples():
    from nnabla_nas.contrib.darts import genotype, ops
    for module in (genotype, ops):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_str_is_one_compact_line_per_run_log():
    from nnabla_nas.contrib.darts.genotype import DARTS_V2

    text = str(DARTS_V2)
    assert text.startswith("normal [sep_conv_3x3(0) sep_conv_3x3(1) | sep_conv_3x3(0)")
    assert " reduce [max_pool_3x3(0) max_pool_3x3(1) | skip_connect(2)" in text
    assert "\n" not in text and text.count("|") == 6
