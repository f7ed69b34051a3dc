"""PNG pictures into TensorBoard."""
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboardX import SummaryWriter
from tensorboardX.proto import event_pb2

from nnabla_nas.visual.images import add_image, png_to_array


def image_summaries(folder: Path):
    """``(tag, step, Summary.Image)`` of every image in the event files under
    ``folder``."""
    found = []
    for path in sorted(Path(folder).rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            found.extend((v.tag, event.step, v.image) for v in event.summary.value
                         if v.HasField("image"))
    return found


def write_png(path, mode, size, colour):
    Image.new(mode, size, colour).save(path, format="PNG")
    return path


def test_png_to_array_is_hwc_uint8_rgb(tmp_path):
    path = write_png(tmp_path / "a.png", "RGB", (5, 3), (10, 20, 30))
    array = png_to_array(path)
    assert array.shape == (3, 5, 3) and array.dtype == np.uint8
    assert (array == [10, 20, 30]).all()


def test_transparent_pixels_become_white(tmp_path):
    path = write_png(tmp_path / "a.png", "RGBA", (2, 2), (0, 0, 0, 0))
    assert (png_to_array(path) == 255).all()


def test_png_to_array_rejects_other_files(tmp_path):
    (tmp_path / "a.png").write_text("not a picture")
    with pytest.raises(ValueError, match="a.png: not an image"):
        png_to_array(tmp_path / "a.png")


def test_add_image_writes_an_image_event(tmp_path):
    path = write_png(tmp_path / "arch.png", "RGB", (7, 4), (200, 100, 0))
    writer = SummaryWriter(logdir=str(tmp_path / "tb"))
    try:
        add_image(writer, "arch/normal", path, step=3)
    finally:
        writer.close()
    [(tag, step, image)] = image_summaries(tmp_path / "tb")
    assert (tag, step, image.height, image.width) == ("arch/normal", 3, 4, 7)
    decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    assert (decoded[..., :3] == [200, 100, 0]).all()
