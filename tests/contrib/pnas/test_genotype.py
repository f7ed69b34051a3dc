"""Genotype of the ProxylessNAS space: names, layout, validation and arch.json files."""
import copy
import doctest
import json
import os

import pytest

from nnabla_nas.contrib.pnas import genotype as G
from nnabla_nas.contrib.pnas.blocks import IMAGENET_STAGES
from nnabla_nas.contrib.pnas.genotype import (OPS, SKIP, Block, Genotype, candidate_names,
                                              load_genotype, op_shape,
                                              plain_mobilenet_v2_arch, save_genotype)

DIGITS = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 2, 2], [6, 64, 2, 2]]


def digits_arch():
    """The digits layout with a few choices made: block 2 (24 -> 24, stride 1) skips."""
    return plain_mobilenet_v2_arch(DIGITS, stem="small").with_ops(
        ["k5_e3", SKIP, "k7_e6", "k3_e3", "k5_e6", SKIP])


def test_candidate_names_are_fixed_and_in_order():
    assert OPS == ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
    assert [op_shape(n) for n in OPS] == [(3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6)]


@pytest.mark.parametrize("shape, skip", [
    ((16, 16, 1), True), ((16, 24, 1), False), ((16, 16, 2), False), ((24, 16, 2), False),
])
def test_skip_is_a_candidate_only_where_the_shape_is_kept(shape, skip):
    assert candidate_names(*shape) == OPS + ((SKIP,) if skip else ())


@pytest.mark.parametrize("name", ["k4_e6", "k3_e2", "k9_e6", "skip", "K3_E6", "k3e6", 3])
def test_op_shape_rejects_other_names(name):
    with pytest.raises(ValueError, match="expected an inverted residual"):
        op_shape(name)


def test_plain_mobilenet_v2_in_the_imagenet_layout():
    arch = plain_mobilenet_v2_arch()
    assert (arch.stem, arch.stem_channels, arch.head_channels) == ("imagenet", 32, 1280)
    assert len(arch.blocks) == 17
    assert arch.blocks[0] == Block("k3_e1", 16, 1, searched=False)
    assert all(b.op == "k3_e6" and b.searched for b in arch.blocks[1:])
    assert [b.out_channels for b in arch.blocks] == \
        [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    assert [i for i, b in enumerate(arch.blocks) if b.stride == 2] == [1, 3, 6, 13]
    assert arch.in_channels[:3] == (32, 16, 24)
    assert tuple(IMAGENET_STAGES) == ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                      (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                                      (6, 320, 1, 1))


@pytest.mark.parametrize("width, stem, head, first, last", [
    (0.5, 16, 1280, 8, 160), (1.0, 32, 1280, 16, 320), (1.4, 48, 1792, 24, 448),
])
def test_width_multiplier_scales_channels_and_only_widens_the_head(width, stem, head,
                                                                   first, last):
    arch = plain_mobilenet_v2_arch(width_multiplier=width)
    assert (arch.stem_channels, arch.head_channels) == (stem, head)
    assert (arch.blocks[0].out_channels, arch.blocks[-1].out_channels) == (first, last)


def test_plain_uses_each_rows_expansion_and_fixes_expansion_one_rows():
    arch = plain_mobilenet_v2_arch([[1, 16, 2, 1], [3, 24, 1, 2]], stem="small",
                                   stem_channels=16, head_channels=64)
    assert [(b.op, b.searched) for b in arch.blocks] == \
        [("k3_e1", False), ("k3_e1", False), ("k3_e3", True)]


@pytest.mark.parametrize("kwargs, message", [
    (dict(stages=[[1, 16, 1, 5]]), r"^stages\[0\]\[3\]"),
    (dict(width_multiplier=0), "^width_multiplier: expected a positive float"),
    (dict(width_multiplier=True), "^width_multiplier"),
    (dict(stem="large"), r"^stem: expected one of \['imagenet', 'small'\]"),
    (dict(stem_channels=0), "^stem_channels: expected a positive int"),
    (dict(head_channels=12.5), "^head_channels: expected a positive int"),
])
def test_plain_rejects_bad_arguments_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plain_mobilenet_v2_arch(**kwargs)


def test_genotype_is_frozen_hashable_and_validated():
    arch = digits_arch()
    assert isinstance(arch.blocks, tuple) and hash(arch) == hash(digits_arch())
    with pytest.raises(AttributeError):
        arch.stem = "imagenet"
    blocks = list(arch.blocks)
    blocks[3] = Block(SKIP, 32, 2)  # 24 -> 32, stride 2: the identity cannot do that
    with pytest.raises(ValueError, match=r"Genotype: blocks\[3\]\.op: 'skip' needs stride 1"
                                         r" .* in_channels=24, out_channels=32, stride=2"):
        Genotype("small", 32, 1280, blocks)
    with pytest.raises(ValueError, match=r"Genotype: blocks\[1\]: expected a Block"):
        Genotype("small", 32, 1280, [blocks[0], blocks[1].to_dict()])
    with pytest.raises(ValueError, match=r"Block\.stride: expected 1 or 2, got 3"):
        Block("k3_e6", 16, 3)


def test_with_ops_replaces_only_searched_blocks():
    arch = digits_arch()
    assert arch.searched_ops == ("k5_e3", SKIP, "k7_e6", "k3_e3", "k5_e6", SKIP)
    assert arch.blocks[0].op == "k3_e1"
    with pytest.raises(ValueError, match="with_ops: ops: expected 6 names"):
        arch.with_ops(["k3_e3"])
    with pytest.raises(ValueError, match=r"Genotype: blocks\[1\]\.op: 'skip' needs .* "
                                         r"in_channels=16, out_channels=24, stride=1"):
        arch.with_ops([SKIP] * 6)


def test_str_is_one_compact_line_split_at_the_stages():
    assert str(digits_arch()) == "[k3_e1] | k5_e3 skip | k7_e6 k3_e3 | k5_e6 skip"


def test_arch_json_round_trip_and_readable_format(tmp_path):
    path = tmp_path / "arch.json"
    arch = digits_arch()
    save_genotype(arch, path)
    assert load_genotype(path) == arch and load_genotype(str(path)) == arch
    assert os.listdir(tmp_path) == ["arch.json"]  # no temporary file left behind
    text = path.read_text()
    lines = text.splitlines()
    assert lines[:7] == ['{', '  "space": "proxylessnas",', '  "version": 1,',
                         '  "stem": "small",', '  "stem_channels": 32,',
                         '  "head_channels": 1280,', '  "blocks": [']
    assert '    {"op": "k3_e1", "out_channels": 16, "stride": 1, "searched": false},' \
        in lines
    assert '    {"op": "skip", "out_channels": 24, "stride": 1, "searched": true},' \
        in lines
    assert json.loads(text) == arch.to_dict()


def test_save_replaces_an_existing_file_whole(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text("x" * 10000)
    save_genotype(plain_mobilenet_v2_arch(DIGITS), path)
    assert load_genotype(path) == plain_mobilenet_v2_arch(DIGITS)


def _set(key, value):
    def edit(d):
        d[key] = value
    return edit


def _set_block(i, key, value):
    def edit(d):
        d["blocks"][i][key] = value
    return edit


def _drop(key, i=None):
    def edit(d):
        del (d if i is None else d["blocks"][i])[key]
    return edit


MALFORMED = [
    (_set("extra", 1), "extra: unknown key"),
    (_drop("head_channels"), "head_channels: missing key"),
    (_set("space", "darts"), "space: expected 'proxylessnas', got 'darts'"),
    (_set("version", 2), "version: expected 1, got 2"),
    (_set("version", "1"), "version: expected 1, got '1'"),
    (_set("stem", "big"), r"stem: expected one of \['imagenet', 'small'\]"),
    (_set("stem_channels", 32.0), "stem_channels: expected a positive int, got 32.0"),
    (_set("head_channels", 0), "head_channels: expected a positive int, got 0"),
    (_set("blocks", []), "blocks: expected a non-empty list"),
    (_set("blocks", "k3_e6"), "blocks: expected a non-empty list"),
    (_set_block(1, "kernel", 3), r"blocks\[1\]\.kernel: unknown key"),
    (_drop("searched", 1), r"blocks\[1\]\.searched: missing key"),
    (_set_block(1, "op", 7), r"blocks\[1\]\.op: expected an op name, got 7"),
    (_set_block(1, "op", "k9_e6"),
     r"blocks\[1\]\.op: unknown candidate operation 'k9_e6'; did you mean 'k.?_e6'\? "
     r"Valid names here: k3_e3, k3_e6, k5_e3, k5_e6, k7_e3, k7_e6$"),
    (_set_block(3, "op", "skip"),
     r"blocks\[3\]\.op: 'skip' needs stride 1 and in_channels == out_channels"),
    (_set_block(1, "out_channels", 32),  # block 2 (skip) now maps 32 -> 24
     r"blocks\[2\]\.op: 'skip' needs .* in_channels=32, out_channels=24, stride=1"),
    (_set_block(0, "op", "skip"), r"blocks\[0\]\.op: a fixed block is an inverted "
                                  r"residual: expected .*, got 'skip'"),
    (_set_block(0, "searched", True), r"blocks\[0\]\.op: unknown candidate operation "
                                      r"'k3_e1'"),
    (_set_block(1, "out_channels", True), r"blocks\[1\]\.out_channels: expected a "
                                          r"positive int, got True"),
    (_set_block(1, "stride", 3), r"blocks\[1\]\.stride: expected 1 or 2, got 3"),
    (_set_block(1, "searched", "yes"), r"blocks\[1\]\.searched: expected true or false"),
]


@pytest.mark.parametrize("edit, message", MALFORMED)
def test_malformed_arch_json_names_file_and_key(tmp_path, edit, message):
    data = copy.deepcopy(digits_arch().to_dict())
    edit(data)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=f"^{path}: {message}"):
        load_genotype(path)


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"space": "proxylessnas", "space": "proxylessnas"}',
     "space: key given more than once"),
])
def test_unparsable_arch_json_names_the_file(tmp_path, text, message):
    path = tmp_path / "arch.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{path}: {message}"):
        load_genotype(path)


def test_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_genotype(tmp_path / "none.json")
    with pytest.raises(TypeError, match="save_genotype: genotype: expected a Genotype"):
        save_genotype(digits_arch().to_dict(), tmp_path / "arch.json")


def test_docstring_examples():
    assert doctest.testmod(G, raise_on_error=True).attempted >= 1
