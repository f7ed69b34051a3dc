"""What a run delivers: pictures of the architecture and the exported network."""
import json
import logging

import numpy as np
import pytest

from nnabla_nas.contrib.darts.genotype import Genotype
from nnabla_nas.contrib.darts.space import DartsSpace, arch_of
from nnabla_nas.dataset import DATASETS
from nnabla_nas.export import read_nnp_metadata
from nnabla_nas.runner.deliver import Pictures, deliver
from nnabla_nas.visual.dot import GraphvizMissing, find_dot
from tests.runner.tiny import run_output

ARCH = arch_of(Genotype([("sep_conv_3x3", 0), ("skip_connect", 1)], [2],
                        [("max_pool_3x3", 0), ("dil_conv_3x3", 1)], [2]))


@pytest.fixture(scope="module")
def digits():
    loader = DATASETS.get("digits")
    return loader.load(loader.Config(), 0)


def test_deliver_draws_and_exports_with_the_arch_and_preprocessing(tmp_path, digits):
    output = run_output(tmp_path)
    arch_path = output.path("arch.json")
    DartsSpace.save_arch(ARCH, arch_path)
    options = DartsSpace.TrainConfig(init_channels=4, num_cells=3)
    model = DartsSpace.build_train(ARCH, options, digits.shape, 10,
                                   np.random.RandomState(0))
    paths = deliver(model, DartsSpace, ARCH, arch_path, digits, output)
    assert set(paths) == {"nnp_path", "onnx_path"}
    meta = read_nnp_metadata(paths["nnp_path"])
    assert meta["arch"] == json.loads((tmp_path / "arch.json").read_text())
    assert meta["preprocessing"]["mean"] == pytest.approx(digits.preprocessing["mean"])
    assert (tmp_path / "network.onnx").stat().st_size > 0
    pictures = {p.name for p in (tmp_path / "pictures").iterdir()}
    assert {"normal.gv", "reduce.gv"} <= pictures
    if find_dot():
        assert {"normal.png", "normal.pdf", "reduce.png", "reduce.pdf"} <= pictures


def test_missing_graphviz_is_said_once_and_the_text_is_kept(tmp_path, caplog):
    class Space(DartsSpace):
        @classmethod
        def draw(cls, arch, folder):
            raise GraphvizMissing(written=[folder + "normal.gv"])

    output = run_output(tmp_path)
    pictures = Pictures(Space, output, logging.getLogger("deliver-test"))
    with caplog.at_level(logging.WARNING, logger="deliver-test"):
        assert pictures.draw(ARCH) == [output.path("pictures", "") + "normal.gv"]
        pictures.draw(ARCH)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "graphviz" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
