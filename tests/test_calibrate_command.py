"""``main.py calibrate``: output and exit codes, the table it writes, and the latency
cost's ``calibrate`` option (validated, with the dotted key in errors)."""
import json

import pytest

from nnabla_nas.commands import load_config
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.contrib.estimator import ProfileTable, measure
from nnabla_nas.contrib.estimator import calibration as cal
from nnabla_nas.contrib.estimator.latency import LatencyEstimator
from nnabla_nas.contrib.estimator.table import default_table_path
from nnabla_nas.utils.cache import CACHE_ENV
from nnabla_nas.utils.context import Device
from tests.test_commands import ROOT, call, values


@pytest.fixture(autouse=True)
def tiny_calibration(monkeypatch, tmp_path):
    """The default calibration on two tiny networks with the fewest repeats, in a
    cache folder of this test's own."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(cal, "CALIBRATION_SET", ((1, 16), (2, 24)))
    monkeypatch.setattr(cal, "CALIBRATION_TIMING", dict(rounds=1, repeats=2, warmup=1))


def test_calibrate_then_reuse_then_force(capsys):
    code, out, err = call(capsys, "calibrate", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["calibrated"] and first["calibrated_now"] and first["networks"] == 2
    assert first["table"] == default_table_path()
    assert set(measure.CALIBRATION_TERMS) <= set(first) and first["seconds"] >= 0
    table = ProfileTable.load(first["table"], measure.device_fingerprint())
    assert table.calibration["a"] == pytest.approx(first["a"], rel=1e-5)
    code, out, err = call(capsys, "calibrate")
    again = values(out)
    assert code == 0 and again["calibrated"] == "True" and \
        again["calibrated_now"] == "False" and "seconds" not in again
    # --force times every function again: timings taken under another load (here
    # made 100 times too slow) and entries no calibration network has are gone.
    for key in list(table):
        table.put(key, 100 * table.get(key), 1)
    table.put("stale-function", 1e6, 1)
    table.save()
    slow = {key: table.get(key) for key in table}
    code, out, err = call(capsys, "calibrate", "--force", "--json")
    assert code == 0 and json.loads(out)["calibrated_now"]
    table = ProfileTable.load(first["table"], measure.device_fingerprint())
    assert "stale-function" not in table and len(table) > 0
    assert all(table.get(key) < slow[key] for key in table)


def test_calibrate_a_given_table_and_user_errors(capsys, tmp_path):
    path = tmp_path / "board.json"
    code, out, err = call(capsys, "calibrate", "--table", path, "--json")
    assert code == 0, err
    assert json.loads(out)["table"] == str(path) and path.is_file()
    # A --table of another device: exit 2 with one line, unless --force replaces it.
    data = json.loads(path.read_text())
    data["fingerprint"]["device"] = "Other Board CPU"
    data["checksum"] = measure.checksum(data["fingerprint"], data["calibration"],
                                        data["entries"])
    path.write_text(json.dumps(data))
    code, out, err = call(capsys, "calibrate", "--table", path)
    assert code == 2 and out == "" and "Other Board CPU" in err and \
        len(err.strip().splitlines()) == 1
    code, out, err = call(capsys, "calibrate", "--table", path, "--force", "--json")
    assert code == 0, err
    assert "Other Board CPU" not in json.loads(out)["device"]
    code, _, err = call(capsys, "calibrate", "--table", tmp_path / "no" / "t.json")
    assert code == 2 and "folder" in err and "does not exist" in err
    code, _, err = call(capsys, "calibrate", "--device-id", "-1")
    assert code == 2 and "--device-id" in err
    code, _, err = call(capsys, "calibrate", "--device", "tpu")
    assert code == 2 and "invalid choice" in err


@pytest.mark.parametrize("value, ok", [("auto", True), ("always", True),
                                       ("never", True), ("sometimes", False),
                                       ("1", False)])
def test_the_calibrate_option_of_the_latency_cost(value, ok):
    overrides = [f"search.regularizers.latency.calibrate={value}"]
    config = ROOT / "examples" / "quickstart.yaml"
    if not ok:
        with pytest.raises(ConfigError, match=r"^search\.regularizers\.latency\."
                                              r"calibrate: expected .*one of \['auto', "
                                              r"'always', 'never'\]"):
            load_config(str(config), overrides)
        return
    options = load_config(str(config), overrides).search.regularizers["latency"]
    assert options.calibrate == value
    estimator = LatencyEstimator.from_config(options, Device())
    assert estimator.calibrate_mode == value


@pytest.mark.parametrize("load, warned", [(0.0, False), (64.0, True)])
def test_a_calibration_under_load_says_so(capsys, monkeypatch, load, warned):
    monkeypatch.setattr(measure.os, "getloadavg", lambda: (load, load, load))
    code, out, err = call(capsys, "calibrate", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert ("warning" in result) == warned
    if warned:
        assert result["warning"].startswith(f"calibrated under load average {load:.2f} on ")
        assert "--force on an idle machine" in result["warning"]
