"""examples/plugin/: a user's own dataset and estimator, registered by a plugin module,
work through main.py (a config's ``plugins:`` and ``NNABLA_NAS_PLUGINS``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugin"


def main_py(*args, plugins=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(EXAMPLE)]))
    env.pop("NNABLA_NAS_PLUGINS", None)
    if plugins is not None:
        env["NNABLA_NAS_PLUGINS"] = plugins
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_the_example_config_searches_on_the_plugins_dataset(tmp_path):
    out = tmp_path / "out"
    result = main_py("search", "--config", EXAMPLE / "plugin.yaml", "--output-path", out,
                     "search.epochs=1", "search.warmup_epochs=0", "search.batch_size=16",
                     "dataset.images=100",
                     "quiet=true")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "squares" and (out / "arch.json").is_file()
    # The output folder's config records the plugin, so rerunning it finds it again.
    assert yaml.safe_load((out / "config.yaml").read_text())["plugins"] == ["tiny_plugin"]


def test_list_shows_the_plugins_components_from_the_environment():
    result = main_py("list", "--kind", "datasets", "--kind", "estimators",
                     plugins="tiny_plugin")
    assert result.returncode == 0, result.stderr
    assert "\n  squares\n" in result.stdout and "dataset.images: int = 400" in \
        result.stdout
    assert "\n  conv_layers  [layers]\n" in result.stdout
    without = main_py("list", "--kind", "datasets")
    assert without.returncode == 0 and "squares" not in without.stdout


@pytest.mark.parametrize("plugins, args, message", [
    (None, ["--config", EXAMPLE / "missing_plugin.yaml"],
     "error: plugins[0]: cannot import 'no_such_plugin': ModuleNotFoundError: No module "
     "named 'no_such_plugin'"),
    ("tiny_plugin,,no_such_plugin", ["list"],
     "error: NNABLA_NAS_PLUGINS[1]: cannot import 'no_such_plugin': ModuleNotFoundError: "
     "No module named 'no_such_plugin'"),
])
def test_a_plugin_that_does_not_import_is_one_line_and_exit_2(tmp_path, plugins, args,
                                                               message):
    (tmp_path / "missing_plugin.yaml").write_text(
        "plugins: [no_such_plugin]\ndataset: {name: squares}\ntrain: {arch: a.json}\n")
    args = [str(a).replace(str(EXAMPLE), str(tmp_path)) for a in args]
    result = main_py(*args, plugins=plugins)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "[nnabla][INFO]" not in line]
    assert lines == [message]


def test_main_help_tells_how_to_plug_in(capsys):
    from nnabla_nas.cli import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert "plugins: [my_pkg.my_data]" in help_text and "NNABLA_NAS_PLUGINS=" in help_text
