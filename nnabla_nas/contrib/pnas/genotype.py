"""Discrete architectures of the ProxylessNAS MobileNetV2 space: the candidate names,
the layout of MobileNetV2 stages, `Genotype` and its ``arch.json``.

Cai et al., "ProxylessNAS: Direct Neural Architecture Search on Target Task and
Hardware", ICLR 2019, https://arxiv.org/abs/1812.00332 (section 4.2: the MobileNetV2
backbone whose inverted-residual blocks choose a kernel of 3, 5 or 7, an expansion of 3
or 6, or to be skipped).

A genotype is self-contained: it names the stem, the stem and head channels, and per
block the chosen op, the output channels and the stride, so the network it describes
is rebuilt without the search config. Block ``i`` reads the output of block ``i - 1``
(the stem for block 0). ``arch.json`` holds one block per line::

    {
      "space": "proxylessnas",
      "version": 1,
      "stem": "imagenet",
      "stem_channels": 32,
      "head_channels": 1280,
      "blocks": [
        {"op": "k3_e1", "out_channels": 16, "stride": 1, "searched": false},
        {"op": "k5_e3", "out_channels": 24, "stride": 2, "searched": true},
        {"op": "skip", "out_channels": 24, "stride": 1, "searched": true},
        ...
      ]
    }

Op names: ``k<kernel>_e<expansion>`` is an inverted residual with that depthwise kernel
and expansion ratio; ``skip`` is the identity. Searched blocks hold one of the names
:func:`candidate_names` allows there; fixed blocks any inverted residual with a kernel
of :data:`~.blocks.KERNELS` and an expansion of :data:`~.blocks.EXPANSIONS`.
"""
from __future__ import annotations

import difflib
import json
import numbers
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Sequence, Tuple, Union

from ...utils.output import atomic_write_text
from ..archfile import check_header, check_keys, is_int, read_json_strict
from .blocks import EXPANSIONS, IMAGENET_STAGES, KERNELS, check_stages, make_divisible

#: The ``space`` field of ``arch.json``.
SPACE = "proxylessnas"
#: The ``version`` field of the ``arch.json`` files this code writes and reads.
VERSION = 1

#: The inverted-residual candidates of every searched block, in the order of its alpha.
OPS = ("k3_e3", "k3_e6", "k5_e3", "k5_e6", "k7_e3", "k7_e6")
#: The identity candidate, appended where a block keeps the shape of its input.
SKIP = "skip"
#: The stems: ``imagenet`` is a 3x3 convolution of stride 2, ``small`` of stride 1.
STEMS = ("imagenet", "small")

PathLike = Union[str, "os.PathLike[str]"]

_KEYS = ("space", "version", "stem", "stem_channels", "head_channels", "blocks")
_BLOCK_KEYS = ("op", "out_channels", "stride", "searched")
_OP = re.compile(r"^k(\d+)_e(\d+)$")


def op_shape(name: str) -> Tuple[int, int]:
    """``(kernel, expansion)`` of an inverted-residual op name such as ``'k5_e3'``.

    Raises:
        ValueError: if ``name`` is not ``k<kernel>_e<expansion>`` with a kernel of
            :data:`KERNELS` and an expansion of :data:`EXPANSIONS`.
    """
    match = _OP.match(name) if isinstance(name, str) else None
    if match is None or int(match[1]) not in KERNELS or int(match[2]) not in EXPANSIONS:
        raise ValueError(f"expected an inverted residual 'k<kernel>_e<expansion>' with a "
                         f"kernel in {list(KERNELS)} and an expansion in "
                         f"{list(EXPANSIONS)}, got {name!r}")
    return int(match[1]), int(match[2])


def skip_allowed(in_channels: int, out_channels: int, stride: int) -> bool:
    """Whether the identity computes a block of this shape."""
    return stride == 1 and in_channels == out_channels


def candidate_names(in_channels: int, out_channels: int, stride: int) -> Tuple[str, ...]:
    """The candidates of a searched block: :data:`OPS`, and :data:`SKIP` last where the
    block keeps the shape of its input."""
    return OPS + ((SKIP,) if skip_allowed(in_channels, out_channels, stride) else ())


def op_error(name: Any, in_channels: int, out_channels: int, stride: int) -> str:
    """Why ``name`` is not a candidate of a block of this shape, with the closest
    valid name."""
    if name == SKIP:
        return (f"'skip' needs stride 1 and in_channels == out_channels, but this block "
                f"has in_channels={in_channels}, out_channels={out_channels}, "
                f"stride={stride}")
    valid = candidate_names(in_channels, out_channels, stride)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    return (f"unknown candidate operation {name!r}"
            + (f"; did you mean {close[0]!r}?" if close else "")
            + f" Valid names here: {', '.join(valid)}")


def _check_block(where: str, op: Any, out_channels: Any, stride: Any,
                 searched: Any) -> None:
    """Types and ranges of one block's fields (the op is checked in context by
    :func:`_check_genotype`)."""
    if not isinstance(op, str):
        raise ValueError(f"{where}.op: expected an op name, got {op!r}")
    if not is_int(out_channels) or out_channels < 1:
        raise ValueError(f"{where}.out_channels: expected a positive int, got "
                         f"{out_channels!r}")
    if not is_int(stride) or stride not in (1, 2):
        raise ValueError(f"{where}.stride: expected 1 or 2, got {stride!r}")
    if not isinstance(searched, bool):
        raise ValueError(f"{where}.searched: expected true or false, got {searched!r}")


@dataclass(frozen=True)
class Block:
    """One block of a genotype.

    Attributes:
        op: The op name (see the module docstring).
        out_channels: Output channels.
        stride: Stride of the depthwise convolution, 1 or 2.
        searched: Whether the search chose ``op`` (else the layout fixed it).
    """

    op: str
    out_channels: int
    stride: int
    searched: bool = True

    def __post_init__(self) -> None:
        _check_block("Block", self.op, self.out_channels, self.stride, self.searched)
        object.__setattr__(self, "out_channels", int(self.out_channels))
        object.__setattr__(self, "stride", int(self.stride))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form of the block."""
        return {"op": self.op, "out_channels": self.out_channels, "stride": self.stride,
                "searched": self.searched}


def _check_channels(prefix: str, stem_channels: Any, head_channels: Any) -> None:
    for key, value in (("stem_channels", stem_channels), ("head_channels", head_channels)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{prefix}{key}: expected a positive int, got {value!r}")


def _check_genotype(source: str, stem: Any, stem_channels: Any, head_channels: Any,
                    blocks: Any) -> None:
    """Every field of a genotype, each op against the shape of its block."""
    if stem not in STEMS:
        raise ValueError(f"{source}: stem: expected one of {list(STEMS)}, got {stem!r}")
    _check_channels(f"{source}: ", stem_channels, head_channels)
    if not isinstance(blocks, (list, tuple)) or not blocks:
        raise ValueError(f"{source}: blocks: expected a non-empty list of blocks, got "
                         f"{blocks!r}")
    in_channels = stem_channels
    for i, block in enumerate(blocks):
        where = f"{source}: blocks[{i}]"
        if not isinstance(block, Block):
            raise ValueError(f"{where}: expected a Block, got {type(block).__name__}")
        shape = (in_channels, block.out_channels, block.stride)
        if block.searched and block.op not in candidate_names(*shape):
            raise ValueError(f"{where}.op: {op_error(block.op, *shape)}")
        if not block.searched:
            try:
                op_shape(block.op)
            except ValueError as e:
                raise ValueError(f"{where}.op: a fixed block is an inverted residual: "
                                 f"{e}") from None
        in_channels = block.out_channels


@dataclass(frozen=True)
class Genotype:
    """A discrete architecture of the space: stem, blocks and head.

    Validated on construction (a list of blocks is stored as a tuple), immutable and
    hashable.

    Attributes:
        stem: ``'imagenet'`` (3x3 convolution, stride 2) or ``'small'`` (stride 1).
        stem_channels: Output channels of the stem.
        head_channels: Channels of the 1x1 convolution before the pooling.
        blocks: The blocks, in order.

    Raises:
        ValueError: naming the bad field, e.g. ``Genotype: blocks[2].op: 'skip' needs
            stride 1 and in_channels == out_channels, ...``.
    """

    stem: str
    stem_channels: int
    head_channels: int
    blocks: Tuple[Block, ...]

    def __post_init__(self) -> None:
        _check_genotype("Genotype", self.stem, self.stem_channels, self.head_channels,
                        self.blocks)
        object.__setattr__(self, "blocks", tuple(self.blocks))

    @property
    def in_channels(self) -> Tuple[int, ...]:
        """Input channels of each block."""
        return (self.stem_channels,) + tuple(b.out_channels for b in self.blocks[:-1])

    @property
    def searched_ops(self) -> Tuple[str, ...]:
        """The ops of the searched blocks, in block order."""
        return tuple(b.op for b in self.blocks if b.searched)

    def with_ops(self, ops: Sequence[str]) -> "Genotype":
        """This genotype with the searched blocks' ops replaced by ``ops``, in order."""
        ops = list(ops)
        searched = [i for i, b in enumerate(self.blocks) if b.searched]
        if len(ops) != len(searched):
            raise ValueError(f"Genotype.with_ops: ops: expected {len(searched)} names (one "
                             f"per searched block), got {len(ops)}")
        blocks = list(self.blocks)
        for i, op in zip(searched, ops):
            blocks[i] = replace(blocks[i], op=op)
        return replace(self, blocks=tuple(blocks))

    def __str__(self) -> str:
        """One line for logs: the ops in block order, fixed ones in brackets, with a
        ``|`` before every block that changes the channels or the resolution
        (MobileNetV2's stages), e.g. ``[k3_e1] | k5_e3 skip | k7_e6 k3_e3 skip``."""
        words, channels = [], None
        for b in self.blocks:
            if channels is not None and (b.out_channels != channels or b.stride == 2):
                words.append("|")
            words.append(b.op if b.searched else f"[{b.op}]")
            channels = b.out_channels
        return " ".join(words)

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form: plain values, with the ``space`` and ``version`` fields."""
        return {"space": SPACE, "version": VERSION, "stem": self.stem,
                "stem_channels": self.stem_channels, "head_channels": self.head_channels,
                "blocks": [b.to_dict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, data: Any, source: str = "genotype") -> "Genotype":
        """Parse the JSON form strictly: exactly the keys of :meth:`to_dict` (and of
        :meth:`Block.to_dict` in every block), space ``'proxylessnas'``, a supported
        version and ops that fit their blocks.

        Args:
            data: The parsed JSON object.
            source: What to call ``data`` in error messages (the file name).

        Raises:
            ValueError: naming ``source`` and the bad key.
        """
        check_header(source, data, SPACE, VERSION, _KEYS)
        blocks = data["blocks"]
        if isinstance(blocks, list):
            blocks = [_block_from_dict(source, f"blocks[{i}]", entry)
                      for i, entry in enumerate(blocks)]
        fields = dict(stem=data["stem"], stem_channels=data["stem_channels"],
                      head_channels=data["head_channels"], blocks=blocks)
        _check_genotype(source, **fields)
        return cls(**fields)


def _block_from_dict(source: str, key: str, entry: Any) -> Block:
    if not isinstance(entry, dict):
        raise ValueError(f"{source}: {key}: expected an object with keys "
                         f"{list(_BLOCK_KEYS)}, got {entry!r}")
    check_keys(source, f"{key}.", entry, _BLOCK_KEYS)
    _check_block(f"{source}: {key}", **entry)
    return Block(**entry)


def plain_mobilenet_v2_arch(stages: Sequence[Sequence[int]] = IMAGENET_STAGES,
                            width_multiplier: float = 1.0, stem: str = "imagenet",
                            stem_channels: int = 32, head_channels: int = 1280
                            ) -> Genotype:
    """MobileNetV2 in the layout ``stages``: the reference point of the space, and the
    skeleton that :class:`~.network.SearchNet` searches over.

    Every row ``(expansion, channels, repeats, stride)`` gives ``repeats`` blocks of
    ``make_divisible(channels * width_multiplier)`` channels, the first with
    ``stride``. Blocks of expansion-1 rows are fixed ``k3_e1`` blocks (ProxylessNAS
    fixes MobileNetV2's first block so); all other blocks are searched and hold
    ``k3_e<expansion>``, MobileNetV2's own block. The stem has
    ``make_divisible(stem_channels * width_multiplier)`` channels, the head
    ``make_divisible(head_channels * max(1, width_multiplier))`` (MobileNetV2 widens
    its head but never narrows it).

    Raises:
        ValueError: beginning with the name of the bad argument, e.g.
            ``stages[1][3]: expected a stride of 1 or 2, got 3``.

    Example:
        >>> print(plain_mobilenet_v2_arch([[1, 16, 1, 1], [6, 24, 2, 2]], stem="small"))
        [k3_e1] | k3_e6 k3_e6
    """
    stages = check_stages(stages)
    if isinstance(width_multiplier, bool) or not isinstance(width_multiplier, numbers.Real) \
            or not width_multiplier > 0:
        raise ValueError(f"width_multiplier: expected a positive float, got "
                         f"{width_multiplier!r}")
    if stem not in STEMS:
        raise ValueError(f"stem: expected one of {list(STEMS)}, got {stem!r}")
    _check_channels("", stem_channels, head_channels)
    blocks: List[Block] = []
    for expansion, channels, repeats, stride in stages:
        out = make_divisible(channels * width_multiplier)
        for r in range(repeats):
            blocks.append(Block(f"k3_e{expansion}", out, stride if r == 0 else 1,
                                searched=expansion != 1))
    return Genotype(stem, make_divisible(stem_channels * width_multiplier),
                    make_divisible(head_channels * max(1.0, width_multiplier)), blocks)


def _format(data: Dict[str, Any]) -> str:
    """JSON with two-space indentation and one block per line."""
    lines = []
    for key, value in data.items():
        if key == "blocks":
            rows = ",\n".join(f"    {json.dumps(b)}" for b in value)
            lines.append(f'  "blocks": [\n{rows}\n  ]')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_genotype(genotype: Genotype, path: PathLike) -> None:
    """Write ``genotype`` as ``arch.json`` through a temporary file and a rename."""
    if not isinstance(genotype, Genotype):
        raise TypeError(f"save_genotype: genotype: expected a Genotype, got "
                        f"{type(genotype).__name__}")
    atomic_write_text(os.fspath(path), _format(genotype.to_dict()))


def load_genotype(path: PathLike) -> Genotype:
    """Read a genotype written by :func:`save_genotype`, validated strictly.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file and the bad key, e.g. ``arch.json: blocks[3].op:
            unknown candidate operation 'k9_e6'; did you mean ...``.
    """
    return Genotype.from_dict(read_json_strict(path), os.fspath(path))
