"""Every example config validates as it is shipped.

The configs are found by a glob over ``examples/``, so a new example is tested without
being listed here. Validation reads no data: configs for CIFAR-10 or an image folder
validate on a machine without those files.
"""
from pathlib import Path

import pytest

from nnabla_nas.cli import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CONFIGS = sorted(p for pattern in ("*.yaml", "*.yml") for p in EXAMPLES.rglob(pattern))


def test_the_examples_are_found():
    names = {p.relative_to(EXAMPLES).as_posix() for p in CONFIGS}
    assert {"quickstart.yaml", "proxylessnas/digits_search.yaml",
            "plugin/plugin.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_the_example_config_validates(path, plugin_path):
    # An example's plugins live next to its config (run with PYTHONPATH=that folder).
    plugin_path(path.parent)
    config = load_config(str(path), [])
    assert config.search is not None or config.train is not None
