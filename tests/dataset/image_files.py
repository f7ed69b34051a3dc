"""Writing small class folders of PNG and JPEG images with Pillow, for the tests."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

#: Class folders in the order they are written: not the sorted order of the labels.
CLASSES = ("dog", "ant", "cat")
#: The colour channel (R, G, B) that is bright in the images of each class.
CHANNEL = {"dog": 0, "ant": 1, "cat": 2}


def class_image(name: str, index: int, rng: np.random.RandomState) -> np.ndarray:
    """An RGB uint8 image of a random size whose class shows in its colour: the
    class's channel (the red one for a class not in :data:`CHANNEL`) is 200 or more,
    the others 60 or less."""
    h, w = rng.randint(12, 40, size=2)
    image = rng.randint(0, 61, size=(h, w, 3)).astype(np.uint8)
    image[:, :, CHANNEL.get(name, 0)] = rng.randint(200, 256, size=(h, w))
    return image


def write_split(folder: Path, per_class: int, seed: int = 0,
                classes: Sequence[str] = CLASSES) -> Dict[str, List[Path]]:
    """``per_class`` images per class folder, alternately PNG and JPEG (one of them
    with an upper-case ``.JPG``); returns the files by class."""
    rng = np.random.RandomState(seed)
    written = {}
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        files = []
        for i in range(per_class):
            suffix = ".png" if i % 2 == 0 else (".JPG" if i == 1 else ".jpeg")
            path = folder / name / f"{name}_{i}{suffix}"
            Image.fromarray(class_image(name, i, rng)).save(path, quality=95)
            files.append(path)
        written[name] = files
    return written


def write_image_folder(root: Path, train_per_class: int = 5, test_per_class: int = 2,
                       classes: Sequence[str] = CLASSES) -> Path:
    """``root/train/<class>/`` and ``root/val/<class>/`` of :data:`CLASSES`."""
    write_split(Path(root) / "train", train_per_class, seed=1, classes=classes)
    write_split(Path(root) / "val", test_per_class, seed=2, classes=classes)
    return Path(root)
