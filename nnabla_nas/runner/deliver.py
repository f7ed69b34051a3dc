"""What a run delivers with its retrained network: pictures of the architecture, and
the network exported to NNP and ONNX, in the output folder."""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from ..contrib.model import Model
from ..contrib.spaces import SearchSpace
from ..dataset import DatasetSplits
from ..export import ConverterNotInstalledError, export_nnp, export_onnx
from ..utils.output import RunOutput
from ..visual.dot import GraphvizError, GraphvizMissing

#: The exported files in the output folder.
NNP_NAME, ONNX_NAME = "network.nnp", "network.onnx"


class Pictures:
    """Draws architectures into an output's ``pictures`` folder; without graphviz it
    says once (a warning naming how to install it) and goes on with the text files."""

    def __init__(self, space: SearchSpace, output: RunOutput,
                 log: Optional[logging.Logger] = None):
        self.space, self.output = space, output
        self.log = log or output.logger
        self._told = False

    def draw(self, arch: Any) -> List[str]:
        """The files written for ``arch``."""
        try:
            return self.space.draw(arch, self.output.path("pictures", ""))
        except GraphvizMissing as e:
            if not self._told:
                self.log.warning(str(e))
                self._told = True
            return list(e.written)
        except GraphvizError as e:
            self.log.warning(f"pictures of the architecture skipped: {e}")
            return []


def deliver(model: Model, space: SearchSpace, arch: Any, arch_path: str,
            data: DatasetSplits, output: RunOutput) -> Dict[str, str]:
    """Draw ``arch`` and export the trained ``model`` (with ``arch_path``'s content and
    the dataset's preprocessing recorded); returns the paths for ``summary.json``.

    ONNX export needs NNabla's converter (``nnabla-converter``); without it the run
    warns how to install it and delivers the NNP only.
    """
    log = output.logger
    Pictures(space, output).draw(arch)
    with open(arch_path, encoding="utf-8") as f:
        recorded = json.load(f)
    out: Dict[str, str] = OrderedDict()
    out["nnp_path"] = export_nnp(model, data.shape, output.path(NNP_NAME), arch=recorded,
                                 preprocessing=data.preprocessing)
    try:
        out["onnx_path"] = export_onnx(out["nnp_path"], output.path(ONNX_NAME))
    except ConverterNotInstalledError as e:
        log.warning(f"ONNX export skipped: {e}")
    log.info("exported " + " and ".join(out.values()))
    return out
