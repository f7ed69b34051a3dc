"""Export a trained network to NNP, NNabla's file format, with its architecture and
preprocessing recorded.

The file is what ``nnabla.utils.save.save`` writes, a zip archive of
``nnp_version.txt``, ``network.nntxt`` (network ``"network"`` from input ``"x"`` to
output ``"y"``, executor ``"runtime"``) and ``parameter.h5`` (the parameters the
graph reads, under their hierarchical names), plus one member of ours,
:data:`METADATA_MEMBER`. NNabla's loaders skip members they have no reader for
(``nnabla.utils.nnp_format``: "If '.nnp' file contain other file, nnabla will just
ignore that files"), so ``NnpLoader`` and the file converter read the file as usual::

    {
      "format": "nnabla-nas-export", "version": 1,
      "network": "network", "executor": "runtime",
      "input": {"name": "x", "shape": [1, 3, 32, 32]},
      "output": {"name": "y", "shape": [1, 10]},
      "arch": {... the content of arch.json ...},
      "preprocessing": {"scale": 0.00392156862745098, "mean": [0.4914, 0.4822, 0.4465],
                        "std": [0.247, 0.2435, 0.2616], "input_shape": [3, 32, 32]},
      "nnabla_version": "1.39.0"
    }

``preprocessing`` says how raw pixels become the network input, per channel ``c``::

    x[c] = (raw[c] * scale - mean[c]) / std[c]

with ``mean`` and ``std`` of one value (shared by all channels) or one per channel. The
datasets of :mod:`nnabla_nas.dataset` normalize this way: CIFAR-10 with ``scale =
1/255`` and :data:`nnabla_nas.dataset.cifar10.MEAN` and ``STD``; digits with ``scale =
1/16`` and the mean and standard deviation of its training split.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import nnabla as nn
from nnabla.utils.save import save

from ..module import Module, training_mode
from ..utils.output import atomic_path

#: Names inside the NNP file.
NETWORK, EXECUTOR, INPUT, OUTPUT = "network", "runtime", "x", "y"
#: The zip member holding the metadata.
METADATA_MEMBER = "nnabla_nas.json"
#: The ``format`` and ``version`` fields of the metadata this code writes and reads.
FORMAT, VERSION = "nnabla-nas-export", 1
#: Function types that draw random numbers besides the ``Rand*`` family (``Rand``,
#: ``Randn``, ``RandomCrop``, ...): none may remain in an inference graph.
RANDOM_FUNCTIONS = ("Dropout", "ImageAugmentation")

PathLike = Union[str, "os.PathLike[str]"]


@contextmanager
def inference_mode(model: Module) -> Iterator[Module]:
    """``model`` with ``training=False`` on every module (batch normalization on its
    running statistics, no drop path, no dropout, no auxiliary head); each module's own
    mode is restored on exit."""
    with training_mode(model, False):
        yield model


def _shape(name: str, value: Any) -> List[int]:
    if not isinstance(value, (tuple, list)) or not value or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in value):
        raise ValueError(f"export_nnp: {name}: expected a non-empty list of positive "
                         f"ints, got {value!r}")
    return [int(v) for v in value]


def _number(value: Any, positive: bool) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(value) and (value > 0 or not positive)


def _per_channel(name: str, value: Any, channels: int, positive: bool) -> List[float]:
    """``value``, a number or a list of 1 or ``channels`` numbers, as a list."""
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(values) not in (1, channels) or not all(_number(v, positive) for v in values):
        what = "positive " if positive else ""
        raise ValueError(f"export_nnp: preprocessing.{name}: expected a {what}number or "
                         f"a list of 1 or {channels} (one per channel), got {value!r}")
    return [float(v) for v in values]


def check_preprocessing(preprocessing: Mapping[str, Any], shape: Sequence[int]
                        ) -> Dict[str, Any]:
    """``preprocessing`` validated and in its stored form, for inputs of ``shape``
    (``[C, H, W]``; the channels are its first axis).

    Raises:
        ValueError: naming the bad key, e.g. ``export_nnp: preprocessing.std: expected
            a positive number or a list of 1 or 3 (one per channel), got [0.2, 0]``.
    """
    if not isinstance(preprocessing, Mapping):
        raise TypeError(f"export_nnp: preprocessing: expected a dict with keys scale, "
                        f"mean, std (and input_shape), got {type(preprocessing).__name__}")
    keys = ("scale", "mean", "std", "input_shape")
    for key in preprocessing:
        if key not in keys:
            raise ValueError(f"export_nnp: preprocessing.{key}: unknown key; expected "
                             f"some of {list(keys)}")
    for key in keys[:3]:
        if key not in preprocessing:
            raise ValueError(f"export_nnp: preprocessing.{key}: missing key")
    scale = preprocessing["scale"]
    if not _number(scale, positive=True):
        raise ValueError(f"export_nnp: preprocessing.scale: expected a positive number, "
                         f"got {scale!r}")
    input_shape = _shape("preprocessing.input_shape",
                         preprocessing.get("input_shape", list(shape)))
    if input_shape != list(shape):
        raise ValueError(f"export_nnp: preprocessing.input_shape: {input_shape} differs "
                         f"from the exported input shape {list(shape)}")
    return {"scale": float(scale),
            "mean": _per_channel("mean", preprocessing["mean"], shape[0], False),
            "std": _per_channel("std", preprocessing["std"], shape[0], True),
            "input_shape": input_shape}


def _arch(arch: Any) -> Any:
    """``arch`` (a dict, or an object with ``to_dict()`` such as a Genotype) as plain
    JSON data."""
    if hasattr(arch, "to_dict"):
        arch = arch.to_dict()
    if not isinstance(arch, Mapping):
        raise TypeError(f"export_nnp: arch: expected a dict (the content of arch.json), "
                        f"got {type(arch).__name__}")
    try:
        return json.loads(json.dumps(arch))
    except (TypeError, ValueError) as e:
        raise TypeError(f"export_nnp: arch: not JSON data: {e}") from None


def graph_parameters(model: Module, x: nn.Variable, y: nn.Variable
                     ) -> "OrderedDict[str, nn.Variable]":
    """The variables the graph from ``x`` to ``y`` reads besides ``x``, by name: the
    model's parameters under their hierarchical names, then constants that are no
    registered parameter (a plain ``nn.Variable`` kept on a module) as
    ``constant/<i>``.

    Raises:
        ValueError: if the graph runs functions that draw random numbers, or batch
            normalization on batch statistics: it is not an inference graph.
    """
    by_data = {p.data: k for k, p in model.get_parameters().items()}
    used, constants, bad = set(), [], []

    def visit(f) -> None:
        kind = f.info.type_name
        if kind.startswith("Rand") or kind in RANDOM_FUNCTIONS or (
                kind == "BatchNormalization" and f.info.args.get("batch_stat")):
            bad.append(kind)
        for v in f.inputs:
            if v.parent is not None or v.data == x.data:
                continue
            if v.data in by_data:
                used.add(by_data[v.data])
            elif all(v.data != c.data for c in constants):
                constants.append(v)

    y.visit(visit)
    if bad:
        raise ValueError(f"export_nnp: the inference graph of {type(model).__name__} is "
                         f"not deterministic: it runs {sorted(set(bad))} (random "
                         "functions, or batch normalization on batch statistics)")
    params = OrderedDict((k, p) for k, p in model.get_parameters().items() if k in used)
    for i, v in enumerate(constants):
        params[f"constant/{i}"] = v
    return params


def export_nnp(model: Module, shape: Sequence[int], path: PathLike, *,
               arch: Any = None, preprocessing: Optional[Mapping[str, Any]] = None,
               batch_size: int = 1) -> str:
    """Write the inference graph of ``model`` to the NNP file ``path``.

    The graph is built in inference mode (see :func:`inference_mode`; the model's modes
    are restored afterwards): a DARTS train network without its auxiliary head and
    drop path, batch normalization on the running statistics. The batch size is fixed
    in the file, since some layers build shapes from it.

    Args:
        model: The trained network; calling it on one variable must return one.
        shape: The shape of one input sample, ``[C, H, W]`` for images.
        path: The file to write, ending in ``.nnp``; written atomically.
        arch: The architecture, the content of ``arch.json`` as a dict (or a
            :class:`~nnabla_nas.contrib.darts.genotype.Genotype`).
        preprocessing: How raw pixels become the input (see the module docstring):
            ``{"scale": ..., "mean": [...], "std": [...]}``, optionally with
            ``"input_shape"``, which must equal ``shape``.
        batch_size: The batch size of the input ``x``.

    Returns:
        ``path``.

    Raises:
        TypeError: if ``model`` is no Module or ``arch`` no JSON object.
        ValueError: for a bad argument (naming it), or if the model returns several
            outputs or its inference graph draws random numbers.
        FileNotFoundError: if the folder of ``path`` does not exist.
    """
    if not isinstance(model, Module):
        raise TypeError(f"export_nnp: model: expected a Module, got "
                        f"{type(model).__name__}")
    shape = _shape("shape", shape)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"export_nnp: batch_size: expected a positive int, got "
                         f"{batch_size!r}")
    path = os.fspath(path)
    if not path.endswith(".nnp"):
        raise ValueError(f"export_nnp: path: expected a file name ending in '.nnp', "
                         f"got {path!r}")
    metadata = {
        "format": FORMAT, "version": VERSION, "network": NETWORK, "executor": EXECUTOR,
        "input": {"name": INPUT, "shape": [int(batch_size)] + shape},
        "output": None,
        "arch": None if arch is None else _arch(arch),
        "preprocessing": None if preprocessing is None
        else check_preprocessing(preprocessing, shape),
        "nnabla_version": nn.__version__}
    with nn.auto_forward(False), inference_mode(model):
        x = nn.Variable(metadata["input"]["shape"])
        y = model(x)
        if not isinstance(y, nn.Variable):
            what = f"{len(y)} outputs" if isinstance(y, (list, tuple)) \
                else f"a {type(y).__name__}"
            raise ValueError(f"export_nnp: {type(model).__name__} returns {what} in "
                             "inference mode; export needs one variable")
        params = graph_parameters(model, x, y)
    metadata["output"] = {"name": OUTPUT, "shape": list(y.shape)}
    contents = {
        "networks": [{"name": NETWORK, "batch_size": int(batch_size),
                      "outputs": {OUTPUT: y}, "names": {INPUT: x}}],
        "executors": [{"name": EXECUTOR, "network": NETWORK, "data": [INPUT],
                       "output": [OUTPUT]}]}
    with atomic_path(path, ".nnp") as tmp:
        with nn.parameter_scope("", OrderedDict()):
            for name, p in params.items():
                nn.parameter.set_parameter(name, p)
            save(tmp, contents, variable_batch_size=False)
        with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as nnp:
            nnp.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2) + "\n")
    return path


def read_nnp_metadata(path: PathLike) -> Dict[str, Any]:
    """The metadata :func:`export_nnp` recorded in an NNP file (see the module
    docstring): ``arch``, ``preprocessing``, the input and output names and shapes.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming ``path`` if it is no NNP file of ours or its metadata is
            unreadable.
    """
    return _read_metadata(path, required=True)


def _read_metadata(path: PathLike, required: bool) -> Optional[Dict[str, Any]]:
    """:func:`read_nnp_metadata`; None for an NNP file without metadata (one written
    by other tools) unless ``required``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"read_nnp_metadata: no such file: {path!r}")
    try:
        with zipfile.ZipFile(path) as nnp:
            if METADATA_MEMBER not in nnp.namelist():
                if not required:
                    return None
                raise ValueError(f"{path}: no {METADATA_MEMBER} member: not an NNP file "
                                 "written by nnabla_nas.export.export_nnp")
            raw = nnp.read(METADATA_MEMBER)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an NNP file (a zip archive): {e}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: {METADATA_MEMBER}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: {METADATA_MEMBER}: format: expected {FORMAT!r}")
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: {METADATA_MEMBER}: version: expected {VERSION}, got "
                         f"{data.get('version')!r} (written by another nnabla-nas)")
    return data
