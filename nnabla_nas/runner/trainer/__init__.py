"""Training a fixed architecture from scratch."""
from .trainer import Trainer

__all__ = ["Trainer"]
