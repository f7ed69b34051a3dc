"""Plugins: modules named in a config or in NNABLA_NAS_PLUGINS, imported before the
config is validated; a bad one is one error naming the key."""
import re
import textwrap

import pytest

from nnabla_nas.commands.base import validate_config
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.config.plugins import ENV_VAR, env_plugins, import_env_plugins, \
    import_plugins

PLUGIN = textwrap.dedent('''
    from dataclasses import dataclass
    from nnabla_nas.dataset import DATASETS

    @DATASETS.register("plugged_in")
    class PluggedIn:
        @dataclass(frozen=True)
        class Config:
            pass

        @staticmethod
        def load(config, seed):
            raise NotImplementedError
    ''')


@pytest.fixture
def plugin_folder(tmp_path, plugin_path):
    plugin_path(tmp_path)
    return tmp_path


def test_a_plugin_registers_what_the_rest_of_the_config_names(plugin_folder):
    (plugin_folder / "plugin_data.py").write_text(PLUGIN)
    data = {"plugins": ["plugin_data"], "dataset": {"name": "plugged_in"},
            "train": {"arch": "arch.json"}}
    config = validate_config(data)
    assert config.plugins == ("plugin_data",) and config.dataset.name == "plugged_in"
    # Validated twice (a rerun, a resumed run): the module is imported once.
    assert validate_config(data).dataset.name == "plugged_in"


def test_without_its_plugin_the_component_is_unknown(plugin_folder):
    with pytest.raises(ConfigError, match="dataset.name: unknown dataset 'plugged_in'"):
        validate_config({"dataset": {"name": "plugged_in"}, "train": {"arch": "a.json"}})


def test_a_missing_module_is_named_with_its_key():
    with pytest.raises(ConfigError) as caught:
        import_plugins(["nnabla_nas", "no_such_plugin.sub"])
    assert str(caught.value) == ("plugins[1]: cannot import 'no_such_plugin.sub': "
                                 "ModuleNotFoundError: No module named 'no_such_plugin'")
    assert isinstance(caught.value.__cause__, ImportError)


def test_a_plugin_that_raises_is_named_with_its_key(plugin_folder):
    (plugin_folder / "plugin_broken.py").write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(ConfigError, match=r"^plugins\[0\]: cannot import "
                                          r"'plugin_broken': RuntimeError: no GPU here$"):
        import_plugins(["plugin_broken"])


@pytest.mark.parametrize("names, message", [
    ("my_pkg.x", "plugins: expected a list of module names, got 'my_pkg.x'"),
    ({"a": 1}, "plugins: expected a list of module names, got {'a': 1}"),
    ([3], "plugins[0]: expected a module name, got 3"),
    (["nnabla_nas", " "], "plugins[1]: expected a module name, got ' '"),
])
def test_plugins_must_be_a_list_of_module_names(names, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        import_plugins(names)


def test_the_environment_variable_is_comma_separated():
    assert env_plugins({}) == []
    assert env_plugins({ENV_VAR: " a.b, ,c "}) == ["a.b", "c"]
    with pytest.raises(ConfigError, match=r"^NNABLA_NAS_PLUGINS\[1\]: cannot import "
                                          r"'nope_plugin'"):
        import_env_plugins({ENV_VAR: "nnabla_nas,nope_plugin"})
