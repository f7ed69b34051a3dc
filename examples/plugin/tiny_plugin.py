"""A plugin: your own dataset and estimator, registered without editing nnabla-nas.

Any importable module can register components with the registries' decorators. Name
it in a config (``plugins: [tiny_plugin]``) or, for every command of ``main.py``, in
the ``NNABLA_NAS_PLUGINS`` environment variable; it is imported before the config is
validated, so the config can name what it registers. From the repository's root::

    PYTHONPATH=examples/plugin python main.py --config examples/plugin/plugin.yaml
    PYTHONPATH=examples/plugin NNABLA_NAS_PLUGINS=tiny_plugin python main.py list

It registers:

* the dataset ``squares``: 8x8 grey images of a bright square in one of four
  quadrants, on noise; the class is the quadrant. Made from the seed, no file.
* the estimator ``conv_layers``: the number of convolutions on the active path of a
  network or a search space.
"""
from dataclasses import dataclass

import numpy as np

from nnabla_nas import module as Mo
from nnabla_nas.config.fields import option
from nnabla_nas.contrib.estimator import ESTIMATORS, Estimator
from nnabla_nas.dataset import DATASETS, DatasetSplits, Split

SIZE, CLASSES = 8, 4


@DATASETS.register("squares")
class Squares:
    """8x8 grey images of a bright 3x3 square in one of the four quadrants (the class),
    on Gaussian noise; generated from the seed, split at random."""

    @dataclass(frozen=True)
    class Config:
        """Options of the ``squares`` dataset."""

        images: int = option(400, "images in all, split 60/20/20 into train, valid and "
                                   "test", minimum=20)
        noise: float = option(0.3, "standard deviation of the noise (the square is 1)",
                              minimum=0)

    @staticmethod
    def load(config: "Squares.Config", seed: int) -> DatasetSplits:
        rng = np.random.RandomState(seed)
        y = rng.randint(0, CLASSES, size=config.images).astype(np.int32)
        x = rng.normal(0.0, config.noise, size=(config.images, 1, SIZE, SIZE))
        for i, label in enumerate(y):
            top, left = 4 * (label // 2), 4 * (label % 2)
            top, left = top + rng.randint(0, 2), left + rng.randint(0, 2)
            x[i, 0, top:top + 3, left:left + 3] += 1.0
        x = x.astype(np.float32)
        y = y.reshape(-1, 1)
        train, valid = int(0.6 * len(x)), int(0.8 * len(x))
        return DatasetSplits(train=Split(x[:train], y[:train]),
                             valid=Split(x[train:valid], y[train:valid]),
                             test=Split(x[valid:], y[valid:]),
                             num_classes=CLASSES, name="squares")


@ESTIMATORS.register("conv_layers")
class ConvLayers(Estimator):
    """The number of convolutions (dense and depthwise) that run."""

    unit = "layers"

    def _predict(self, module: Mo.Module) -> float:
        return 1.0 if isinstance(module, (Mo.Conv, Mo.DwConv)) else 0.0
