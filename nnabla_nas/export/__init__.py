"""Export a trained network: to NNP, NNabla's format, with the architecture and the
preprocessing recorded, and from NNP to ONNX with NNabla's own converter.

Typical use, for a network on 8x8 grey images whose pixels were scaled by 1/16 and
normalized by a mean of 0.3 and a standard deviation of 0.4:

>>> import os, tempfile
>>> from nnabla_nas import module as Mo
>>> net = Mo.Sequential(Mo.Conv(1, 4, (3, 3)), Mo.GlobalAvgPool())
>>> folder = tempfile.mkdtemp()
>>> nnp = export_nnp(net, (1, 8, 8), os.path.join(folder, "net.nnp"),
...                  arch={"space": "example"},
...                  preprocessing={"scale": 1 / 16, "mean": 0.3, "std": 0.4})
>>> read_nnp_metadata(nnp)["preprocessing"]
{'scale': 0.0625, 'mean': [0.3], 'std': [0.4], 'input_shape': [1, 8, 8]}
>>> os.path.basename(export_onnx(nnp, os.path.join(folder, "net.onnx")))
'net.onnx'

Importing this package imports neither ``onnx`` nor the converter; :func:`export_onnx`
does, when called.
"""
from .nnp import export_nnp, inference_mode, read_nnp_metadata
from .onnx import (ConverterNotInstalledError, OnnxExportError, UnsupportedFunctionError,
                   export_onnx)

__all__ = ["export_nnp", "read_nnp_metadata", "inference_mode", "export_onnx",
           "ConverterNotInstalledError", "OnnxExportError", "UnsupportedFunctionError"]
