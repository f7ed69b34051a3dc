"""Pictures into TensorBoard: a PNG file as an image summary."""
from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]


def png_to_array(path: PathLike) -> np.ndarray:
    """The picture in ``path`` as an ``(height, width, 3)`` uint8 RGB array; a
    transparent background is made white.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if it is not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    source = os.fspath(path)
    try:
        with Image.open(source) as image:
            rgba = image.convert("RGBA")
    except UnidentifiedImageError as e:
        raise ValueError(f"{source}: not an image Pillow can read") from e
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)


def add_image(writer: Any, tag: str, png_path: PathLike, step: int) -> None:
    """Add the picture in ``png_path`` to TensorBoard under ``tag`` at ``step``.

    Args:
        writer: A ``tensorboardX.SummaryWriter`` (``RunOutput.writer``).
        tag: The image's name in TensorBoard (e.g. ``'arch/normal'``).
        png_path: The picture (any format Pillow reads).
        step: The global step, e.g. ``epoch + 1`` as the alpha scalars use.
    """
    writer.add_image(tag, png_to_array(png_path), step, dataformats="HWC")
