"""image_folder on class folders of PNG and JPEG images written by the test: labels by
sorted class name, resizing, the stratified split, normalization (against numpy), the
augmentation, and errors that name the folder or file."""
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.loader import from_dict
from nnabla_nas.dataset import DATASETS, DataLoader, Split
from nnabla_nas.dataset import image_folder
from nnabla_nas.dataset.augment import cutout, random_crop_flip
from nnabla_nas.dataset.image_folder import ImageFolder
from nnabla_nas.dataset.split import stratified_split

from .image_files import CHANNEL, write_image_folder, write_split

SORTED = ("ant", "cat", "dog")


def paths(folder, names):
    """The files of :func:`image_folder.list_images`'s names, as plain paths."""
    return [folder / os.fsdecode(n) for n in names]


def load(root, seed=0, **options):
    return ImageFolder.load(ImageFolder.Config(root=str(root), **options), seed=seed)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images"))


def test_registered_shapes_and_sizes(root):
    data = load(root, image_size=10)
    assert DATASETS.get("image_folder") is ImageFolder
    assert (data.name, data.num_classes, data.shape) == ("image_folder", 3, (3, 10, 10))
    assert data.classes == SORTED
    assert (len(data.train), len(data.valid), len(data.test)) == (12, 3, 6)
    for part in (data.train, data.valid, data.test):
        assert part.x.dtype == np.float32 and part.y.dtype == np.int32
    assert load(root).shape == (3, 32, 32)  # the default size


def test_labels_follow_the_sorted_class_names(root):
    data = load(root, image_size=8, valid_fraction=0.4)
    for part in (data.train, data.valid, data.test):
        # The class's colour channel.
        bright = np.asarray(part.x).mean(axis=(2, 3)).argmax(axis=1)
        expected = [CHANNEL[SORTED[label]] for label in part.y[:, 0]]
        assert bright.tolist() == expected
        assert set(part.y[:, 0]) == {0, 1, 2}


def test_matches_a_numpy_reference_of_split_and_normalization(root):
    seed, size = 3, 6
    data = load(root, seed=seed, image_size=size, valid_fraction=0.4)
    classes = image_folder.find_classes(root / "train")
    files, labels = image_folder.list_images(root / "train", classes)
    raw = image_folder.read_images(paths(root / "train", files), size) / 255.0
    test_files, test_labels = image_folder.list_images(root / "val", classes)
    raw_test = image_folder.read_images(paths(root / "val", test_files), size) / 255.0
    kept, held = stratified_split(labels, 0.4, np.random.RandomState(seed))
    mean = raw[kept].mean(axis=(0, 2, 3))[:, None, None]
    std = raw[kept].std(axis=(0, 2, 3))[:, None, None]
    for part, x, y in ((data.train, raw[kept], labels[kept]),
                       (data.valid, raw[held], labels[held]),
                       (data.test, raw_test, test_labels)):
        np.testing.assert_allclose(part.x, (x - mean) / std, atol=1e-5)
        assert np.array_equal(part.y[:, 0], y)
    train = np.asarray(data.train.x)
    np.testing.assert_allclose(train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=(0, 2, 3)), 1, atol=1e-5)
    # Stratified: 2 of the 5 training images of each class are held out.
    assert np.bincount(data.valid.y[:, 0]).tolist() == [2, 2, 2]


def test_the_split_is_fixed_by_the_seed(root):
    a, b, c = (load(root, seed=s, image_size=4, valid_fraction=0.4) for s in (1, 1, 2))
    assert np.array_equal(a.valid.x, b.valid.x) and np.array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.valid.x, c.valid.x)


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.mark.parametrize("transpose", [False, True], ids=["landscape", "portrait"])
def test_shorter_side_is_resized_then_the_centre_cropped(tmp_path, transpose):
    stripes = np.zeros((20, 80, 3), np.uint8)  # red, with green columns 20 to 59
    stripes[:, :, 0] = 255
    stripes[:, 20:60] = (0, 255, 0)
    image = stripes.transpose(1, 0, 2) if transpose else stripes
    write(tmp_path / "a.png", np.ascontiguousarray(image))
    out = image_folder.decode(tmp_path / "a.png", 8)
    # 20 -> 8 pixels, so 80 -> 32 and the central 8 come from columns 30 to 49: green.
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out == (0, 255, 0)).all()


def test_grey_and_transparent_images_become_rgb(tmp_path):
    write(tmp_path / "grey.png", np.full((9, 9), 77, np.uint8))
    write(tmp_path / "rgba.png", np.full((9, 9, 4), (10, 20, 30, 128), np.uint8))
    assert (image_folder.decode(tmp_path / "grey.png", 4) == 77).all()
    assert (image_folder.decode(tmp_path / "rgba.png", 4) == (10, 20, 30)).all()


def test_large_jpeg_decoded_at_a_reduced_scale_keeps_its_content(tmp_path):
    image = np.zeros((400, 400, 3), np.uint8)
    image[:, 200:] = 255  # left half black, right half white
    write(tmp_path / "big.jpg", image)
    out = image_folder.decode(tmp_path / "big.jpg", 16).astype(int)
    assert out.shape == (16, 16, 3)
    assert (out[:, :6] < 10).all() and (out[:, 10:] > 245).all()


def test_other_files_and_hidden_files_are_ignored(tmp_path):
    write_image_folder(tmp_path)
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "ant" / "._ant_0.png").write_bytes(b"macOS metadata")
    (tmp_path / "train" / ".cache").mkdir()
    (tmp_path / "val" / ".cache").mkdir()
    (tmp_path / "train" / "README").write_text("a stray file beside the classes")
    data = load(tmp_path, image_size=4)
    assert data.classes == SORTED and len(data.train) + len(data.valid) == 15


# --------------------------------------------------------------------- augmentation
def black(root, size, seed=0, fraction=0.2):
    """numpy reference of normalized black: -mean / std of the training split."""
    files, labels = image_folder.list_images(root / "train", SORTED)
    kept, _ = stratified_split(labels, fraction, np.random.RandomState(seed))
    raw = image_folder.read_images(paths(root / "train", files), size)[kept] / 255.0
    return -raw.mean(axis=(0, 2, 3)) / raw.std(axis=(0, 2, 3))


def test_augment_is_a_crop_of_the_image_padded_with_normalized_black(root):
    data = load(root, image_size=8, padding=2)
    x = data.train.x[:5]
    want = random_crop_flip(x, np.random.RandomState(4), padding=2, fill=black(root, 8))
    np.testing.assert_allclose(data.augment(x, np.random.RandomState(4)), want,
                               atol=1e-5)


def test_augmentation_options(root):
    assert load(root, image_size=4, augment=False).augment is None
    only_cutout = load(root, image_size=8, augment=False, cutout=4)
    x = only_cutout.train.x[:3]
    np.testing.assert_array_equal(only_cutout.augment(x, np.random.RandomState(0)),
                                  cutout(x, np.random.RandomState(0), 4))
    both = load(root, image_size=8, cutout=4)
    rng = np.random.RandomState(1)
    expected = cutout(random_crop_flip(x, rng, padding=4, fill=black(root, 8)), rng, 4)
    np.testing.assert_allclose(both.augment(x, np.random.RandomState(1)), expected,
                               atol=1e-5)


# ------------------------------------------------------------------------- errors
def test_missing_root_says_what_layout_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load(tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message
    assert f"{tmp_path / 'nowhere' / 'train'}/<class>/<image>" in message
    assert f"{tmp_path / 'nowhere' / 'val'}/<class>/<image>" in message


def test_missing_test_folder_is_named(tmp_path):
    write_split(tmp_path / "train", 3)
    with pytest.raises(FileNotFoundError) as info:
        load(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'val'} not found (set test_dir")
    with pytest.raises(FileNotFoundError, match="set train_dir"):
        load(tmp_path, train_dir="training", test_dir="train")


def test_mismatched_classes_name_the_folders(tmp_path):
    write_split(tmp_path / "train", 3, classes=("ant", "cat", "dog"))
    write_split(tmp_path / "val", 1, classes=("ant", "bee", "cat"))
    with pytest.raises(ValueError) as info:
        load(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'val'}: its class folders differ from those of "
        f"{tmp_path / 'train'}: missing ['dog'], extra ['bee']")


def test_no_class_folders(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "train" / "flat.png")
    with pytest.raises(ValueError, match=f"^{tmp_path / 'train'}: no class folders; "
                                         "expected"):
        load(tmp_path)


@pytest.mark.parametrize("split", ["train", "val"])
def test_class_folder_without_images_is_named(tmp_path, split):
    write_image_folder(tmp_path)
    folder = tmp_path / split / "cat"
    for f in folder.iterdir():
        f.unlink()
    (folder / "labels.csv").write_text("not an image")
    with pytest.raises(ValueError, match=f"^{folder}: no images in this class folder"):
        load(tmp_path)


def truncated_jpeg(path):
    write(path.with_suffix(".tmp.jpg"), np.random.RandomState(0).randint(
        0, 256, (32, 32, 3)).astype(np.uint8))
    data = path.with_suffix(".tmp.jpg").read_bytes()
    path.with_suffix(".tmp.jpg").unlink()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("name, make", [
    ("garbage.png", lambda p: p.write_bytes(b"this is not an image")),
    ("empty.jpg", lambda p: p.write_bytes(b"")),
    ("truncated.jpg", truncated_jpeg),
])
def test_undecodable_image_is_a_value_error_naming_the_file(tmp_path, name, make):
    write_image_folder(tmp_path)
    path = tmp_path / "val" / "dog" / name
    make(path)
    with pytest.raises(ValueError) as info:
        load(tmp_path, image_size=4)
    assert str(info.value).startswith(f"{path}: cannot decode the image (")
    assert "\n" not in str(info.value)


def test_too_few_images_for_the_validation_fraction(tmp_path):
    write_image_folder(tmp_path, train_per_class=1, test_per_class=1)
    with pytest.raises(ValueError, match="^valid_fraction: 0.1 of 3 samples leaves "
                                         "nothing to hold out"):
        load(tmp_path, valid_fraction=0.1)


@pytest.mark.parametrize("option, value, message", [
    ("root", "", "^root: expected a non-empty string, got ''$"),
    ("test_dir", "train", "^test_dir: 'train' is also train_dir"),
    ("image_size", 0, "^image_size: expected a positive int, got 0$"),
    ("valid_fraction", 0.0, r"^valid_fraction: expected a float in \(0, 1\), got 0.0$"),
    ("augment", 1, "^augment: expected true or false, got 1$"),
    ("padding", -1, "^padding: expected an int >= 0, got -1$"),
    ("cutout", 2.5, "^cutout: expected an int >= 0, got 2.5$"),
])
def test_config_errors_name_the_option(option, value, message):
    with pytest.raises(ValueError, match=message):
        ImageFolder.Config(**{option: value})


def test_config_loader_checks_ranges_with_the_dotted_key():
    with pytest.raises(ConfigError, match=r"^dataset\.image_size: expected an integer "
                                          r">= 1 and <= 4096, got 0$"):
        from_dict(ImageFolder.Config, {"image_size": 0}, "dataset")
    config = from_dict(ImageFolder.Config, {"root": "x", "cutout": 16}, "dataset")
    assert (config.root, config.cutout, config.image_size) == ("x", 16, 32)


# ------------------------------------------------------------------------ streaming
def test_splits_hold_file_names_not_pixels(root):
    data = load(root, image_size=16)
    for part in (data.train, data.valid, data.test):
        assert isinstance(part.x, image_folder.ImageFiles)
        assert part.x.shape == (len(part), 3, 16, 16) and part.x.dtype == np.float32
        # What a split keeps (and sends to a worker process) is its names: a few dozen
        # bytes per image, where one decoded 16x16 image is 3 KB.
        assert len(pickle.dumps(part.x)) < 1000 + 100 * len(part)


def test_images_are_decoded_once_at_load_then_per_batch_taken(root, monkeypatch):
    calls = []
    decode = image_folder.decode
    monkeypatch.setattr(image_folder, "decode",
                        lambda path, size: calls.append(path) or decode(path, size))
    data = load(root, image_size=8)
    assert len(calls) == 21 and len(set(calls)) == 21  # the checking pass: every file
    with DataLoader(data.train, batch_size=4, shuffle=True, seed=0, prefetch=0) as loader:
        loader.next_batch()
        assert len(calls) == 21 + 4
        loader.next_batch()
        assert len(calls) == 21 + 8


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_equal_those_of_the_images_in_memory(root, prefetch):
    # The same seed gives the same batches as reading every image first (as this
    # dataset did before streaming), across an epoch boundary and with augmentation.
    data = load(root, seed=5, image_size=8, cutout=2)
    in_memory = Split(np.asarray(data.train.x), data.train.y)
    kwargs = dict(batch_size=5, shuffle=True, seed=7, augment=data.augment)
    with DataLoader(data.train, prefetch=prefetch, **kwargs) as streamed, \
            DataLoader(in_memory, prefetch=0, **kwargs) as reference:
        for _ in range(7):  # 12 images: 3 batches an epoch
            (x, y), (x_ref, y_ref) = streamed.next_batch(), reference.next_batch()
            assert x.tobytes() == x_ref.tobytes() and np.array_equal(y, y_ref)
        assert streamed.state_dict()["epoch"] == reference.state_dict()["epoch"] == 3


@pytest.mark.parametrize("key", [3, -1, slice(2, 9, 3), [4, 0, 4], np.array([11, 2]),
                                 np.arange(12) % 3 == 0],
                         ids=["int", "negative", "slice", "list", "array", "mask"])
def test_indexing_is_that_of_the_array(root, key):
    x = load(root, image_size=4).train.x
    whole = np.asarray(x)
    assert whole.shape == (12, 3, 4, 4)
    np.testing.assert_array_equal(x[key], whole[key])


@pytest.mark.parametrize("key", [12, -13, [0, 12], np.zeros(5, bool), 1.5, [[0]]])
def test_bad_indices_are_index_errors(root, key):
    with pytest.raises(IndexError):
        load(root, image_size=4).train.x[key]


def test_a_file_damaged_after_loading_is_named_by_the_batch_that_reads_it(tmp_path):
    write_image_folder(tmp_path)
    data = load(tmp_path, image_size=4, augment=False)
    x = data.train.x
    damaged = x.path(0)
    damaged.write_bytes(b"overwritten after loading")
    with DataLoader(data.train, batch_size=len(x), shuffle=False, seed=0) as loader:
        with pytest.raises(ValueError) as info:
            loader.next_batch()
    assert str(info.value).startswith(f"{damaged}: cannot decode the image (")
    x.path(1).unlink()
    with pytest.raises(ValueError, match=f"^{x.path(1)}: cannot decode the image "
                                         r"\(FileNotFoundError"):
        x[1]
