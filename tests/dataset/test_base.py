"""Split, DatasetSplits, and what every registered dataset must provide (parametrized
over the registry, so a new dataset is checked for free once it has a tiny config)."""
import dataclasses
import typing

import numpy as np
import pytest

from nnabla_nas.dataset import DATASETS, DataLoader, DatasetSplits, Split

from .cifar_files import write_cifar
from .image_files import write_image_folder


def split(n=4, shape=(1, 2, 2), label=0):
    return Split(np.zeros((n,) + shape, np.float32), np.full((n, 1), label, np.int32))


def test_split_is_read_only_and_sized():
    s = split(3)
    assert len(s) == 3
    with pytest.raises(ValueError):
        s.x[0, 0, 0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.x = np.zeros((3, 1, 2, 2), np.float32)


F32, I32 = np.float32, np.int32


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((2, 1, 2, 2)), np.zeros((2, 1), I32), r"^x: expected a non-empty float32"),
    (np.zeros((2, 4), F32), np.zeros((2, 1), I32),
     r"^x: .*got a float32 array of shape \(2, 4\)"),
    (np.zeros((0, 1, 2, 2), F32), np.zeros((0, 1), I32), r"^x: expected a non-empty"),
    (np.zeros((2, 1, 2, 2), F32), np.zeros((2,), I32),
     r"^y: expected an int32 array of shape \(2, 1\)"),
    (np.zeros((2, 1, 2, 2), F32), np.zeros((2, 1), np.int64), r"^y: .*got a int64"),
])
def test_split_rejects_wrong_arrays(x, y, message):
    with pytest.raises(ValueError, match=message):
        Split(x, y)


def test_dataset_splits_shape_and_checks():
    d = DatasetSplits(split(), split(2), split(3), num_classes=2, name="toy")
    assert d.shape == (1, 2, 2) and d.augment is None
    with pytest.raises(ValueError, match=r"^test: images of shape \(1, 3, 3\) differ"):
        DatasetSplits(split(), split(), split(shape=(1, 3, 3)), num_classes=2, name="toy")
    with pytest.raises(ValueError, match=r"^valid: labels must be in \[0, 2\), got "
                                         r"\[5, 5\]"):
        DatasetSplits(split(), split(label=5), split(), num_classes=2, name="toy")
    with pytest.raises(ValueError, match="^num_classes: expected a positive int"):
        DatasetSplits(split(), split(), split(), num_classes=0, name="toy")
    with pytest.raises(TypeError, match="^augment: expected a callable"):
        DatasetSplits(split(), split(), split(), num_classes=1, name="toy", augment=3)
    assert DatasetSplits(split(), split(), split(), num_classes=2, name="toy",
                         classes=("a", "b")).classes == ("a", "b")
    with pytest.raises(ValueError, match=r"^classes: expected a tuple of 2 non-empty "
                                         r"strings or None, got \('a',\)"):
        DatasetSplits(split(), split(), split(), num_classes=2, name="toy", classes=("a",))


# ------------------------------------------------------------- every registered dataset
def tiny_config(name, tmp_path):
    """A config of each registered dataset that loads in well under a second."""
    cls = DATASETS.get(name)
    if name == "digits":
        return cls.Config()
    if name == "cifar10":
        write_cifar(tmp_path)
        return cls.Config(root=str(tmp_path))
    if name == "image_folder":
        write_image_folder(tmp_path, train_per_class=7)  # 17 training images
        return cls.Config(root=str(tmp_path), image_size=8, cutout=4)
    raise LookupError(f"add a tiny config for the new dataset {name!r} here")


@pytest.mark.parametrize("name", DATASETS.names())
def test_config_is_a_documented_frozen_dataclass_with_defaults(name):
    config_cls = DATASETS.get(name).Config
    config = config_cls()
    hints = typing.get_type_hints(config_cls)  # what the config loader relies on
    for f in dataclasses.fields(config_cls):
        assert f.metadata.get("doc"), f"{name}.{f.name} has no description"
        assert hints[f.name] in (bool, int, float, str)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config_cls)[0].name, None)


@pytest.mark.parametrize("name", DATASETS.names())
def test_load_then_two_loader_steps(name, tmp_path):
    data = DATASETS.get(name).load(tiny_config(name, tmp_path), seed=0)
    assert isinstance(data, DatasetSplits) and data.name == name
    for part in (data.train, data.valid, data.test):
        assert part.x.dtype == np.float32 and part.x.shape[1:] == data.shape
        assert 0 <= part.y.min() and part.y.max() < data.num_classes
    loader = DataLoader(data.train, batch_size=8, shuffle=True, seed=0,
                        augment=data.augment)
    for _ in range(2):
        x, y = loader.next_batch()
        assert x.shape == (8,) + data.shape and x.dtype == np.float32
        assert y.shape == (8, 1) and y.dtype == np.int32
        assert np.isfinite(x).all()
