"""Export a trained network to NNP, NNabla's format, with the architecture and the
preprocessing recorded."""
from .nnp import export_nnp, inference_mode, read_nnp_metadata

__all__ = ["export_nnp", "read_nnp_metadata", "inference_mode"]
