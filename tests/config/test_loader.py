"""Config loading: every mistake stops with one message naming the dotted key."""
from pathlib import Path

import pytest

from nnabla_nas.commands.base import validate_config
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.loader import apply_overrides, from_dict, read_yaml, to_dict
from nnabla_nas.runner.schema import RunConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))

MINIMAL = {"search": {"epochs": 2}}


def load(data):
    return from_dict(RunConfig, data)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_config_validates_and_round_trips(path, plugin_path):
    plugin_path(path.parent)  # an example's plugins live next to its config
    config = validate_config(read_yaml(str(path)))
    assert validate_config(to_dict(config)) == config


def test_defaults_fill_what_is_omitted():
    config = load(MINIMAL)
    assert config.seed == 0 and config.context == "cpu" and config.train is None
    assert config.dataset.name == "digits" and config.dataset.options.test_fraction == 0.2
    assert config.search.space.name == "darts" and config.search.searcher.options.order == 1
    assert config.search.arch_optimizer.name == "adam"
    assert config.search.arch_optimizer.betas == (0.5, 0.999)


def test_partial_nested_section_keeps_that_sections_defaults():
    config = load({"search": {"arch_optimizer": {"lr": 0.01}}})
    assert config.search.arch_optimizer.lr == 0.01
    assert config.search.arch_optimizer.name == "adam"


@pytest.mark.parametrize("data, message", [
    ({"serach": {}}, "serach: unknown key; valid keys here are: seed, context"),
    ({"search": {"epoch": 3}}, "search.epoch: unknown key"),
    ({"search": {"net_optimizer": {"learning_rate": 1}}},
     "search.net_optimizer.learning_rate: unknown key"),
    ({"search": {"space": {"name": "darts", "cells": 3}}}, "search.space.cells: unknown key"),
    ({"search": {"searcher": {"name": "darts", "orders": 2}}},
     "search.searcher.orders: unknown key"),
    ({"dataset": {"name": "digits", "root": "x"}, **MINIMAL}, "dataset.root: unknown key"),
    ({"seed": "one", **MINIMAL}, "seed: expected an integer >= 0 and <= 4294967295, got 'one'"),
    ({"seed": -1, **MINIMAL}, "seed: expected an integer >= 0 and <= 4294967295, got -1"),
    ({"seed": 1.5, **MINIMAL}, "seed: expected an integer >= 0 and <= 4294967295, got 1.5"),
    ({"quiet": "yes", **MINIMAL}, "quiet: expected a boolean, got 'yes'"),
    ({"context": "tpu", **MINIMAL},
     "context: expected a string one of ['cpu', 'cudnn', 'onnxruntime-cpu']"),
    ({"search": {"net_optimizer": {"lr": "abc"}}},
     "search.net_optimizer.lr: expected a number > 0, got 'abc'"),
    ({"search": {"net_optimizer": {"lr": 0}}}, "search.net_optimizer.lr: expected a number > 0"),
    ({"search": {"net_optimizer": {"lr": 0.1, "lr_min": 0.5}}},
     "search.net_optimizer.lr_min: expected at most lr=0.1"),
    ({"search": {"arch_optimizer": {"betas": [0.5]}}},
     "search.arch_optimizer.betas: expected a list of 2 values"),
    ({"search": {"arch_optimizer": {"betas": [0.5, 1.5]}}},
     "search.arch_optimizer.betas: expected two numbers in [0, 1)"),
    ({"search": {"epochs": 2, "warmup_epochs": 2}},
     "search.warmup_epochs: expected fewer than epochs=2"),
    ({"search": {"space": {"name": "dart"}}},
     "search.space.name: unknown search space 'dart'; did you mean 'darts'?"),
    ({"search": {"searcher": "proxyless"}}, "search.searcher.name: unknown searcher"),
    ({"dataset": {"name": "mnist"}, **MINIMAL}, "dataset.name: unknown dataset 'mnist'"),
    ({"dataset": {"valid_fraction": 1.5}, **MINIMAL}, "dataset.valid_fraction: expected"),
    ({"search": {"space": {"num_cells": 2}}}, "search.space.num_cells: expected an integer >= 3"),
    ({"search": {"space": {"num_nodes": 2, "multiplier": 4}}},
     "search.space.multiplier: expected at most num_nodes=2"),
    ({"search": {"searcher": {"order": 3}}}, "search.searcher.order: expected an integer one"),
    ({"train": {"net": {"drop_path_prob": 1.0}}, **MINIMAL},
     "train.net.drop_path_prob: expected a number >= 0 and < 1"),
    ({"search": 3}, "search: expected a mapping, got int 3"),
    ({}, "search, train: expected at least one of the two sections"),
    ({"train": {}}, "train.arch: expected the path of an arch.json"),
])
def test_mistakes_name_the_dotted_key(data, message):
    with pytest.raises(ConfigError) as info:
        load(data)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("text, message", [
    ("", "the config file is empty"),
    ("- a\n- b\n", "expected a mapping at the top level, got list"),
    ("search: [unclosed\n", "not valid YAML at line 2"),
    ("search: !!python/object/apply:os.system ['touch {marker}']\n", "not valid YAML"),
])
def test_bad_files_name_the_file_and_execute_nothing(tmp_path, text, message):
    marker = tmp_path / "executed"
    path = tmp_path / "run.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        read_yaml(str(path))
    assert not marker.exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no_such.yaml: no such config file"):
        read_yaml(str(tmp_path / "no_such.yaml"))


def test_overrides_set_dotted_keys_with_yaml_typed_values():
    data = apply_overrides({"search": {"space": "darts"}},
                           ["search.epochs=3", "search.space.num_cells=4", "quiet=true",
                            "search.arch_optimizer.betas=[0.1, 0.2]", "train.epochs=3"])
    assert data == {"search": {"epochs": 3, "space": {"name": "darts", "num_cells": 4},
                               "arch_optimizer": {"betas": [0.1, 0.2]}},
                    "quiet": True, "train": {"epochs": 3}}
    config = load(data)
    assert config.search.space.options.num_cells == 4


@pytest.mark.parametrize("item, message", [
    ("search.epochs", "expected section.key=value"),
    ("search..epochs=2", "expected section.key=value"),
    ("seed.value=2", "seed: cannot set seed.value inside a int"),
    ("search.epochs=[1", "search.epochs: override value '[1' is not valid YAML"),
])
def test_bad_overrides_are_named(item, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        apply_overrides({"seed": 1}, [item])


def test_floats_without_a_dot_are_numbers_though_yaml_1_1_reads_them_as_strings():
    data = apply_overrides({"search": {}}, ["search.arch_optimizer.lr=3e-4"])
    assert data["search"]["arch_optimizer"]["lr"] == "3e-4"  # what PyYAML gives
    assert load(data).search.arch_optimizer.lr == 3e-4
