"""cifar10 from small batches written in the real format: layout, splits, errors, the
download path (from a file:// URL) and the augmentation."""
import pickle

import numpy as np
import pytest

from nnabla_nas.dataset import DATASETS, DataLoader
from nnabla_nas.dataset import cifar10
from nnabla_nas.dataset.cifar10 import BLACK, MEAN, STD, Cifar10
from nnabla_nas.dataset.safe_pickle import UnsafePickleError

from .cifar_files import PER_BATCH, make_archive, write_batch, write_cifar


def load(root, seed=0, **options):
    return Cifar10.load(Cifar10.Config(root=str(root), **options), seed=seed)


def expected_normalized(data):
    """numpy reference: rows of 3072 uint8 in CHW order to normalized (N, 3, 32, 32)."""
    x = data.reshape(-1, 3, 32, 32).astype(np.float64) / 255
    return (x - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]


def denormalize(x):
    return np.rint(((x * np.array(STD)[:, None, None]) + np.array(MEAN)[:, None, None])
                   * 255).astype(np.int64).reshape(len(x), -1)


def test_registered_and_split_sizes(tmp_path):
    write_cifar(tmp_path)
    data = load(tmp_path)
    assert DATASETS.get("cifar10") is Cifar10
    assert (data.name, data.num_classes, data.shape) == ("cifar10", 10, (3, 32, 32))
    assert (len(data.train), len(data.valid), len(data.test)) == (25, 25, PER_BATCH)
    # Stratified: 5 images per class in the training batches, 2 or 3 held out each.
    assert set(np.bincount(data.valid.y[:, 0], minlength=10)) <= {2, 3}


def test_pixels_are_read_in_chw_order_and_normalized(tmp_path):
    written = write_cifar(tmp_path)
    data, labels = written["test_batch"]
    data[0] = np.arange(3072) % 256          # value of (c, h, w) is (1024c + 32h + w) % 256
    data[1] = 0
    data[1, 0 * 1024 + 0 * 32 + 1] = 255     # red, row 0, column 1
    data[1, 2 * 1024 + 5 * 32 + 0] = 255     # blue, row 5, column 0
    write_batch(tmp_path / "cifar-10-batches-py" / "test_batch", data, labels)
    x = load(tmp_path).test.x
    np.testing.assert_allclose(x, expected_normalized(data), atol=1e-5)
    c, h, w = 0, 0, 1
    assert x[1, c, h, w] == pytest.approx((1 - MEAN[c]) / STD[c], abs=1e-5)
    assert x[1, 0, 1, 0] == pytest.approx(BLACK[0], abs=1e-5)  # not transposed
    assert x[1, 2, 5, 0] == pytest.approx((1 - MEAN[2]) / STD[2], abs=1e-5)
    assert x[1, 1, 0, 1] == pytest.approx(BLACK[1], abs=1e-5)  # other channel stays black
    assert np.array_equal(load(tmp_path).test.y[:, 0], labels)


def test_train_and_valid_are_a_disjoint_cover_of_the_training_batches(tmp_path):
    written = write_cifar(tmp_path)
    data = load(tmp_path)
    raw = np.concatenate([written[n][0] for n in cifar10.TRAIN_FILES]).astype(np.int64)
    raw_labels = np.concatenate([written[n][1] for n in cifar10.TRAIN_FILES])
    got = np.concatenate([denormalize(data.train.x), denormalize(data.valid.x)])
    got_labels = np.concatenate([data.train.y[:, 0], data.valid.y[:, 0]])
    # Random images are distinct, so sorting identifies each one.
    order_got, order_raw = np.lexsort(got.T[::-1]), np.lexsort(raw.T[::-1])
    assert np.array_equal(got[order_got], raw[order_raw])
    assert np.array_equal(got_labels[order_got], raw_labels[order_raw])


def test_validation_split_is_fixed_by_the_seed(tmp_path):
    write_cifar(tmp_path)
    a, b, c = load(tmp_path, seed=3), load(tmp_path, seed=3), load(tmp_path, seed=4)
    assert np.array_equal(a.valid.x, b.valid.x) and np.array_equal(a.train.y, b.train.y)
    assert not np.array_equal(a.valid.x, c.valid.x)


def test_python2_pickles_like_the_original_files_load_the_same(tmp_path):
    write_cifar(tmp_path / "py3")
    write_cifar(tmp_path / "py2", py2=True)
    a, b = load(tmp_path / "py3"), load(tmp_path / "py2")
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, part).x, getattr(b, part).x)


# ------------------------------------------------------------------------- errors
def test_missing_files_say_which_where_and_how_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load(tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py" / "data_batch_1") in message
    assert "download: true" in message and cifar10.URL in message
    assert f"in {tmp_path / 'nowhere'}" in message


def test_one_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load(tmp_path)


def _bad(kind, path):
    good = np.zeros((4, 3072), np.uint8)
    if kind == "not a pickle":
        return path.write_bytes(b"this is not a pickle at all")
    objects = {
        "a list": [1, 2, 3],
        "no labels": {b"data": good},
        "wrong width": {b"data": np.zeros((4, 1024), np.uint8), b"labels": [0] * 4},
        "float data": {b"data": good.astype(np.float32), b"labels": [0] * 4},
        "too few labels": {b"data": good, b"labels": [0] * 3},
        "label out of range": {b"data": good, b"labels": [0, 1, 2, 10]},
    }
    path.write_bytes(pickle.dumps(objects[kind], protocol=2))


@pytest.mark.parametrize("kind, message", [
    ("not a pickle", r"not a valid pickle .*; expected a CIFAR-10 python batch"),
    ("a list", r"expected a CIFAR-10 python batch.*got a pickled list"),
    ("no labels", r"missing b'labels'"),
    ("wrong width", r"b'data' must be a uint8 array of shape \(N, 3072\), got a uint8 "
                    r"array of shape \(4, 1024\)"),
    ("float data", r"b'data' must be a uint8 array .*got a float32"),
    ("too few labels", r"b'labels' must be 4 ints in \[0, 10\)"),
    ("label out of range", r"b'labels' must be 4 ints in \[0, 10\)"),
])
def test_wrong_format_names_the_file_and_what_was_expected(tmp_path, kind, message):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    _bad(kind, path)
    with pytest.raises(ValueError, match=message) as info:
        load(tmp_path)
    assert str(info.value).startswith(str(path))


class RunsAShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_executing(tmp_path):
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": RunsAShell(marker), b"labels": []}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refusing to load '(posix|nt)\.system'") \
            as info:
        load(tmp_path)
    assert str(info.value).startswith(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("option, value, message", [
    ("root", "", "^root: expected a non-empty string, got ''$"),
    ("valid_fraction", 1.0, r"^valid_fraction: expected a float in \(0, 1\), got 1.0$"),
    ("download", "yes", "^download: expected true or false, got 'yes'$"),
    ("cutout", -1, "^cutout: expected an int >= 0, got -1$"),
])
def test_config_errors_name_the_option(option, value, message):
    with pytest.raises(ValueError, match=message):
        Cifar10.Config(**{option: value})


# ----------------------------------------------------------------------- download
@pytest.fixture
def archive(tmp_path):
    write_cifar(tmp_path / "source")
    path = tmp_path / "cifar-10-python.tar.gz"
    return path, make_archive(tmp_path / "source", path)


def test_download_from_a_file_url_with_the_right_checksum(tmp_path, archive):
    path, md5 = archive
    root = tmp_path / "data"
    cifar10._download(path.as_uri(), md5, root)
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == \
        sorted(cifar10.TRAIN_FILES + (cifar10.TEST_FILE,))
    expected = load(tmp_path / "source")
    assert np.array_equal(load(root).test.x, expected.test.x)


def test_download_with_a_wrong_checksum_fails_and_leaves_nothing(tmp_path, archive):
    path, _ = archive
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="checksum mismatch, expected MD5 0+, got"):
        cifar10._download(path.as_uri(), "0" * 32, root)
    assert list(root.rglob("*")) == []


def test_load_downloads_when_asked_and_files_are_missing(tmp_path, archive, monkeypatch):
    path, md5 = archive
    monkeypatch.setattr(cifar10, "URL", path.as_uri())
    monkeypatch.setattr(cifar10, "MD5", md5)
    data = load(tmp_path / "data", download=True)
    assert len(data.test) == PER_BATCH
    assert (tmp_path / "data" / "cifar-10-python.tar.gz").is_file()


def test_failed_download_says_how_to_get_the_files(tmp_path, monkeypatch):
    url = (tmp_path / "unreachable.tar.gz").as_uri()
    monkeypatch.setattr(cifar10, "URL", url)
    with pytest.raises(OSError, match=f"download failed .*; or fetch {url} by other "
                                      "means and extract it in"):
        load(tmp_path / "data", download=True)


# --------------------------------------------------------------------- augmentation
def test_augment_pads_with_black_crops_and_flips_training_batches(tmp_path):
    write_cifar(tmp_path)
    data = load(tmp_path)
    x = data.train.x[:8]
    out = data.augment(x, np.random.RandomState(0))
    assert out.shape == x.shape and out.dtype == np.float32
    assert not np.array_equal(out, x)
    # Cropping at 64 offsets that are all 4 pixels off to one side exposes the padding:
    # a whole border row or column of normalized black in every channel.
    many = data.augment(np.repeat(x[:1], 64, 0), np.random.RandomState(1))
    black = np.array(BLACK, np.float32)[:, None]
    borders = [many[:, :, 0, :], many[:, :, -1, :], many[:, :, :, 0], many[:, :, :, -1]]
    assert any(np.allclose(b[i], black) for b in borders for i in range(64))
    loader = DataLoader(data.train, batch_size=5, shuffle=False, seed=0,
                        augment=data.augment)
    assert not np.array_equal(loader.next_batch()[0], data.train.x[:5])


def test_cutout_zeroes_a_square_of_every_training_image(tmp_path):
    write_cifar(tmp_path)
    x = load(tmp_path).train.x[:20]
    assert (x != 0).all()  # normalized random pixels are never exactly 0
    out = load(tmp_path, cutout=16).augment(x, np.random.RandomState(0))
    zeros = (out == 0).sum(axis=(2, 3))  # (B, C)
    # At least the 8x8 corner of a square clipped at a corner, at most the whole 16x16.
    assert (zeros >= 64).all() and (zeros <= 256).all() and (zeros == 256).any()
    assert (zeros == zeros[:, :1]).all()  # the same square in the 3 channels
    plain = load(tmp_path).augment(x, np.random.RandomState(0))
    assert (plain != 0).all()  # no cutout by default (the padding is BLACK, not 0)
