"""The commands of main.py: help, list, search, train, derive, estimate, export, and the
one-line errors for unknown names. One tiny search and one tiny training serve every
test that needs a run."""
import doctest
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import nnabla_nas
from nnabla_nas.cli import main
from nnabla_nas.commands import COMMANDS
from nnabla_nas.commands.base import command_parser
from nnabla_nas.commands.listing import KINDS
from nnabla_nas.config import describe
from nnabla_nas.contrib.darts.ops import CANDIDATES
from nnabla_nas.contrib.pnas.ops import CANDIDATES as PNAS_CANDIDATES
from nnabla_nas.contrib.estimator import ESTIMATORS
from nnabla_nas.contrib.proxies import PROXIES
from nnabla_nas.contrib.estimator import measure
from nnabla_nas.contrib.spaces import SEARCH_SPACES
from nnabla_nas.dataset import DATASETS
from nnabla_nas.contrib.proxies.base import PROXIES
from nnabla_nas.registry import Registry
from nnabla_nas.runner.executor import EXECUTORS
from nnabla_nas.runner.schema import RunConfig
from nnabla_nas.runner.searcher import SEARCHERS
from tests.tiny import tiny_run

ROOT = Path(__file__).resolve().parents[1]

#: What `list --kind K` lists: the registry of each kind.
LISTED = {"spaces": SEARCH_SPACES, "searchers": SEARCHERS, "datasets": DATASETS,
          "estimators": ESTIMATORS, "ops": CANDIDATES, "blocks": PNAS_CANDIDATES,
          "executors": EXECUTORS}
#: Kinds listed by name and summary only (no config options): proxies.
NAMED_ONLY = {"proxies": PROXIES}
#: The tiny config, made smaller still: one search epoch, a 2-channel network.
FAST = ["search.epochs=1", "search.warmup_epochs=0", "search.searcher.order=1",
        "train.epochs=1", "train.net.init_channels=2", "train.net.auxiliary=false"]


def call(capsys, *args):
    """``main(args)`` in this process: ``(exit status, stdout, stderr)``."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help, or a malformed command line
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def values(text):
    """The ``  key: value`` lines a command prints, as a dict of strings."""
    return dict(re.findall(r"^  (\w+): (.*)$", text, flags=re.M))


# ------------------------------------------------------------------------- help
@pytest.mark.parametrize("name", COMMANDS.names())
def test_every_command_help_describes_every_option(capsys, name):
    code, out, _ = call(capsys, name, "--help")
    assert code == 0 and out.startswith(f"usage: main.py {name} ")
    parser = command_parser(name)
    assert parser.description.splitlines()[0] in out
    for action in parser._actions:
        assert action.help, f"{name}: {action.dest} has no help"
        for flag in action.option_strings or [action.metavar or action.dest]:
            assert flag in out, f"{name} --help does not show {flag}"


def test_top_level_help_shows_the_form_without_command_and_every_command(capsys):
    code, out, _ = call(capsys, "--help")
    assert code == 0 and "--config CONFIG" in out and "--overwrite" in out
    for name in COMMANDS.names():
        first_line = COMMANDS.get(name).__doc__.strip().splitlines()[0]
        assert re.search(rf"^  {name} +{re.escape(first_line)}$", out, flags=re.M), name


def test_main_py_dispatches_commands():
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "list", "--kind", "ops"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "\n  sep_conv_3x3\n" in result.stdout


# ------------------------------------------------------------------------- list
def test_every_registry_is_listed():
    """A new registry of components must get a kind in `list`."""

    found = set()
    for info in pkgutil.walk_packages(nnabla_nas.__path__, "nnabla_nas."):
        if ".contrib.estimator.__main__" in info.name:
            continue  # running it is its only use
        module = importlib.import_module(info.name)
        found.update(id(v) for v in vars(module).values() if isinstance(v, Registry))
    exempt = {id(COMMANDS), id(KINDS)}
    assert found - exempt == {id(r) for r in {**LISTED, **NAMED_ONLY}.values()}
    # config: the run's own keys
    assert set(KINDS.names()) == set(LISTED) | set(NAMED_ONLY) | {"config"}


@pytest.mark.parametrize("kind", sorted(LISTED))
def test_list_shows_every_component_with_its_options_and_defaults(capsys, kind):
    code, out, err = call(capsys, "list", "--kind", kind)
    assert code == 0, err
    registry = LISTED[kind]
    for name in registry.names():
        assert f"\n  {name}" in out, name
    for field in describe.component_fields(RunConfig):
        if field.registry is not registry:
            continue
        for name in registry.names():
            options = getattr(registry.get(name), field.config_attr)
            for row in describe.option_rows(options, field.key):
                assert f"      {row.key}: {row.type} = {row.default}" in out, row.key
    if kind == "estimators":
        for name in registry.names():
            for row in describe.keyword_rows(registry.get(name)):
                assert f"      {row.key}: {row.type} = {row.default}" in out, row.key


@pytest.mark.parametrize("line", [
    "      search.space.init_channels: int = 8  [>= 1 and <= 256]",
    "      search.space.head_channels: int = 1280  [>= 1 and <= 8192]",
    "      dataset.image_size: int = 32  [>= 1 and <= 4096]",
    "  search.batch_size: int = 64  [>= 1 and <= 65536]",
    "  train.epochs: int = 20  [>= 1 and <= 10000]",
    "  seed: int = 0  [>= 0 and <= 4294967295]",
    "      train.net.drop_path_prob: float = 0.2  [>= 0 and < 1]",
    "      search.searcher.order: int = 1  [one of [1, 2]]",
    "      dataset.valid_fraction: float = 0.25  [> 0 and < 1]",
    "      table: str or ProfileTable or null = null",
    "          The GPU for 'cudnn'.",
    "  k5_e6",
    "  skip",
])
def test_list_prints_known_options_as_documented(capsys, line):
    code, out, _ = call(capsys, "list")
    assert code == 0 and line in out.splitlines()


def test_describe_examples_and_google_args():
    assert doctest.testmod(describe).failed == 0
    doc = """Summary.

    Args:
        first: One line.
        second (int): Two
            lines with ``markup`` and :class:`~a.b.Thing`.

    Returns:
        nothing: not an argument.
    """
    assert describe.google_args(doc) == {
        "first": "One line.", "second": "Two lines with markup and Thing."}
    rows = {r.key: r for r in describe.keyword_rows(ESTIMATORS.get("latency"))}
    assert rows["context"].default == "cpu" and "cudnn" in rows["context"].doc


# ----------------------------------------------------------- unknown names
@pytest.mark.parametrize("args, message", [
    (["serch", "--config", "{cfg}", "--output-path", "{tmp}/out"],
     "error: unknown command 'serch'; did you mean 'search'? Valid names: "),
    (["list", "--kind", "spacs"],
     "error: --kind: unknown kind 'spacs'; did you mean 'spaces'? Valid names: "),
    (["estimate", "--arch", "{tmp}/arch.json", "--space", "dart"],
     "error: --space: unknown search space 'dart'; did you mean 'darts'? Valid names: "),
    (["search", "--config", "{cfg}", "--output-path", "{tmp}/out",
      "search.searcher.name=dartz"],
     "error: search.searcher.name: unknown searcher 'dartz'; did you mean 'darts'? "),
    (["derive", "--config", "{cfg}", "--output-path", "{tmp}/out", "dataset.name=digit"],
     "error: dataset.name: unknown dataset 'digit'; did you mean 'digits'? "),
    (["train", "--config", "{cfg}", "--output-path", "{tmp}/out", "--arch",
      "{tmp}/arch.json", "train.net.name=proxyless"],
     "error: train.net.name: unknown search space 'proxyless'; did you mean "
     "'proxylessnas'? "),
])
def test_unknown_names_get_the_closest_match_in_one_line(capsys, tmp_path, args, message):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_run()))
    args = [a.format(cfg=cfg, tmp=tmp_path) for a in args]
    code, out, err = call(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message), err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("commands")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_run()))
    out = folder / "out"
    assert main(["search", "--config", str(config), "--output-path", str(out), *FAST]) == 0
    return config, out, sorted(p.name for p in out.iterdir())


@pytest.fixture(scope="module")
def trained(searched):
    config, out, _ = searched
    assert main(["train", "--config", str(config), "--output-path", str(out), *FAST]) == 0
    return config, out, json.loads((out / "summary.json").read_text())


def run_args(config, out, *args):
    return [*args, "--config", config, "--output-path", out, *FAST]


def test_search_command_runs_only_the_search(searched):
    _, out, written = searched
    for name in ("arch.json", "search_weights.h5", "checkpoints", "summary.json",
                 "config.yaml", "log.txt"):
        assert name in written, name
    assert "weights.h5" not in written
    assert "search epoch 1/1" in (out / "log.txt").read_text()


def test_train_command_trains_the_arch_the_search_wrote(trained):
    _, out, summary = trained
    assert (out / "weights.h5").is_file()
    assert summary["arch_path"] == str(out / "arch.json")
    assert "search_time_s" in summary  # the search's figures stay in summary.json
    assert 0 <= summary["test_accuracy"] <= 1 and summary["params"] > 0
    assert summary["estimated_latency_ms"] > 0


def test_train_without_a_search_or_arch_says_what_to_run(capsys, searched, tmp_path):
    config, _, _ = searched
    code, _, err = call(capsys, *run_args(config, tmp_path / "fresh", "train"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "arch.json: no such file; run `main.py search --config" in err
    assert not (tmp_path / "fresh").exists()


def test_search_command_needs_a_search_section(capsys, tmp_path):
    data = tiny_run()
    del data["search"]
    data["train"]["arch"] = str(tmp_path / "arch.json")
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump(data))
    code, _, err = call(capsys, "search", "--config", config)
    assert code == 2
    assert err == "error: search: the config has no search section, which " \
                  "`main.py search` needs\n"


def test_derive_from_a_checkpoint_equals_the_searched_arch(capsys, searched, tmp_path):
    config, out, _ = searched
    tag = (out / "checkpoints" / "search" / "latest").read_text().strip()
    derived = tmp_path / "derived.json"
    code, printed, err = call(capsys, *run_args(config, out, "derive", "--checkpoint", tag,
                                                "--out", derived))
    assert code == 0, err
    assert derived.read_text() == (out / "arch.json").read_text()
    assert f"derived from checkpoint {tag} (1 of 1 epochs done)" in printed


def test_derive_keeps_a_hard_bound(capsys, searched, tmp_path):
    config, out, _ = searched
    derived = tmp_path / "small.json"
    # Parameters of the delivered network (train.net) of the architecture found.
    code, printed, err = call(capsys, *run_args(
        config, out, "derive", "--out", tmp_path / "same.json",
        "search.regularizers.memory.mode=hard", "search.regularizers.memory.bound=1e9"))
    assert code == 0, err
    bound = float(values(printed)["estimated_memory_parameters"]) - 1
    code, printed, err = call(capsys, *run_args(
        config, out, "derive", "--out", derived, "search.regularizers.memory.mode=hard",
        f"search.regularizers.memory.bound={bound}"))
    assert code == 0, err
    assert float(values(printed)["estimated_memory_parameters"]) <= bound
    assert json.loads(derived.read_text()) != json.loads((out / "arch.json").read_text())


def test_derive_names_the_checkpoints_there_are(capsys, searched):
    config, out, _ = searched
    code, _, err = call(capsys, *run_args(config, out, "derive", "--checkpoint", "00009"))
    assert code == 2 and "--checkpoint 00009: no such checkpoint" in err
    assert "available: 00001-000000" in err


def test_estimate_with_the_config_gives_the_run_figures(capsys, trained):
    config, out, summary = trained
    code, printed, err = call(capsys, "estimate", "--arch", out / "arch.json",
                              "--config", config, *FAST)
    assert code == 0, err
    got = values(printed)
    assert got["space"] == "darts" and got["input_shape"] == "[1, 8, 8]"
    assert int(got["params"]) == summary["params"]
    assert int(got["estimated_params"]) == summary["estimated_params"]
    assert int(got["estimated_activation_bytes"]) == summary["estimated_activation_bytes"]
    assert float(got["estimated_latency_ms"]) > 0 and float(got["measured_latency_ms"]) > 0
    assert got["latency_calibrated"] == "True" and summary["latency_calibrated"] is True


def test_estimate_json_on_this_device_and_on_an_imported_table(capsys, trained,
                                                               calibrated_table):
    _, out, summary = trained
    table = Path(calibrated_table)
    args = ["estimate", "--arch", out / "arch.json", "--space", "darts", "--input-shape",
            1, 8, 8, "--json", "--table", table, "init_channels=2", "num_cells=3",
            "auxiliary=false"]
    code, printed, err = call(capsys, *args)
    assert code == 0, err
    here = json.loads(printed)
    assert here["params"] == summary["params"] and here["num_classes"] == 10
    assert here["estimated_for"] == here["measured_on"]
    # The same table, as if a latency bundle had measured it on another device.
    data = json.loads(table.read_text())
    data["fingerprint"]["device"] = "Other Board CPU"
    data["checksum"] = measure.checksum(data["fingerprint"], data.get("calibration"),
                                        data["entries"])
    table.write_text(json.dumps(data))
    code, printed, err = call(capsys, *args)
    assert code == 0, err
    there = json.loads(printed)
    assert "Other Board CPU" in there["estimated_for"] and \
        "Other Board CPU" not in there["measured_on"]
    assert there["estimated_latency_ms"] == here["estimated_latency_ms"]


def test_export_writes_nnp_and_onnx(capsys, trained):
    from nnabla_nas.export import read_nnp_metadata

    config, out, _ = trained
    try:
        import onnx
        importlib.import_module("nnabla.utils.converter.onnx")
    except ImportError:
        onnx = None
    formats = ["nnp", "onnx"] if onnx is not None else ["nnp"]
    code, printed, err = call(capsys, "export", "--config", config, "--output-path", out,
                              "--format", *formats, *FAST)
    assert code == 0, err
    assert f"wrote {out / 'network.nnp'}" in printed
    metadata = read_nnp_metadata(out / "network.nnp")
    assert metadata["arch"] == json.loads((out / "arch.json").read_text())
    assert metadata["input"]["shape"] == [1, 1, 8, 8]
    assert metadata["preprocessing"]["scale"] == 1 / 16  # digits: counts in [0, 16]
    if onnx is not None:
        assert f"wrote {out / 'network.onnx'}" in printed
        onnx.checker.check_model(onnx.load(str(out / "network.onnx")))


def test_export_before_training_says_what_to_run(capsys, searched, tmp_path):
    config, out, _ = searched
    code, _, err = call(capsys, *run_args(config, tmp_path / "empty", "export"))
    assert code == 2 and "weights.h5: no such file; train first" in err
