"""Datasets: splits (in memory, or read from storage as batches are taken), the
registry of datasets, and the batch loader.

Each dataset module (``digits``, ``cifar10``, ``image_folder``) registers its dataset in
:data:`DATASETS` when imported; :mod:`nnabla_nas.builtins` imports them all. Importing
this package reads no file and imports nothing heavy.
"""
from .base import DATASETS, DatasetSplits, LazyImages, Split
from .loader import DataLoader

__all__ = ["DATASETS", "DataLoader", "DatasetSplits", "LazyImages", "Split"]
