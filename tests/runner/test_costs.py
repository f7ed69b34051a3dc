"""A new estimator, registered in ESTIMATORS and nowhere else, is a search cost (soft
or hard), is listed by ``main.py list`` and is reported in ``summary.json``."""
import json

import pytest
import yaml

from nnabla_nas import module as Mo
from nnabla_nas.cli import main
from nnabla_nas.contrib.estimator import ESTIMATORS, Estimator
from tests.tiny import tiny_run


class ConvLayers(Estimator):
    """Convolution layers on the path that runs (an estimator made in a test)."""

    unit = "layers"
    summary_key = "conv_layers"

    def _predict(self, module):
        return float(isinstance(module, (Mo.Conv, Mo.DwConv)))


@pytest.fixture
def conv_layers():
    with ESTIMATORS.temporarily("conv_layers", ConvLayers):
        yield ConvLayers
    assert "conv_layers" not in ESTIMATORS


def run(tmp_path, capsys, name, costs, train=False):
    """A tiny run of the config with ``search.costs = costs`` (search only unless
    ``train``; costs are on the network of the train section either way); returns its
    summary."""
    config = tiny_run()
    config["search"].update(epochs=2, warmup_epochs=1, costs=costs)
    config["search"]["searcher"]["order"] = 1
    config["train"].update(epochs=1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / name
    code = main(([] if train else ["search"]) + ["--config", str(path),
                                                 "--output-path", str(out)])
    assert code == 0, capsys.readouterr().err
    return json.loads((out / "summary.json").read_text())


def test_a_new_estimator_is_listed_with_its_unit_and_cost_options(capsys, conv_layers):
    assert main(["list", "--kind", "estimators"]) == 0
    out = capsys.readouterr().out
    assert "\n  conv_layers  [layers]\n" in out
    assert "summary.json: search_arch_conv_layers, estimated_conv_layers" in out
    assert "      search.costs.conv_layers.mode: str = soft" in out


@pytest.mark.slow
def test_a_new_estimator_is_a_soft_penalty_and_a_hard_bound(tmp_path, capsys,
                                                            conv_layers):
    soft = run(tmp_path, capsys, "soft", {"conv_layers": {"weight": 0.1}}, train=True)
    assert soft["search_arch_conv_layers"] > 0
    assert soft["estimated_conv_layers"] > 0  # the retrained network's, from report()
    # The delivered network of the soft run's architecture meets it (its convolutions
    # may already be the fewest the space allows: a lower bound can be unreachable).
    bound = soft["search_arch_conv_layers"]
    hard = run(tmp_path, capsys, "hard",
               {"conv_layers": {"bound": bound, "mode": "hard"}})
    assert hard["search_arch_conv_layers"] <= bound


def test_an_unreachable_bound_of_a_new_estimator_names_its_key(tmp_path, capsys,
                                                               conv_layers):
    config = tiny_run()
    del config["train"]
    config["search"]["costs"] = {"conv_layers": {"bound": 0.5, "mode": "hard"}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path), "--output-path", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "error: search.costs.conv_layers.bound: below the cheapest architecture" in err
    assert "conv_layers " in err and "layers (bound 0.5)" in err
