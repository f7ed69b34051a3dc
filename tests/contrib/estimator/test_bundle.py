"""Export, run on "another device" (a subprocess with only the bundle), import."""
import json
import os
import subprocess
import sys

import pytest

from nnabla_nas.contrib.estimator import (ProfileTableError, export_bundle, import_table,
                                          measure)
from nnabla_nas.contrib.estimator.calibration import default_networks

from .helpers import fast_estimator, small_block


@pytest.fixture(scope="module")
def bundle_table(tmp_path_factory):
    """A bundle for one block, run by its own runner in a fresh process."""
    folder = tmp_path_factory.mktemp("bundle") / "out"
    block = small_block()
    nets = default_networks((1, 3, 16, 16), seeds=[1, 2])
    manifest = export_bundle(str(folder), block, networks=nets, warmup=0, repeats=2,
                             network_repeats=2, network_rounds=1)
    files = sorted(os.listdir(folder))
    assert files == ["functions", "manifest.json", "networks", "nnabla_nas_measure.py",
                     "nnabla_nas_onnx_runtime.py", "run_bundle.py"]
    output = str(folder / "profile.json")
    # Only the bundle: run from another folder, without nnabla_nas on the path.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I",
                             str(folder / "run_bundle.py"), "--output", output],
                            capture_output=True, text=True, cwd=str(folder.parent),
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "functions profiled" in result.stdout and "calibrated on 2" in result.stdout
    return manifest, output, block


def test_bundle_has_one_nnp_per_function(bundle_table):
    manifest, _, block = bundle_table
    with open(manifest) as f:
        data = json.load(f)
    keys = [e["key"] for e in data["functions"]]
    assert len(keys) == len(set(keys)) == len(data["functions"])
    est = fast_estimator()
    assert {s.key for s in est.functions(block)} <= set(keys)
    for entry in data["functions"]:
        assert os.path.isfile(os.path.join(os.path.dirname(manifest), entry["file"]))


def test_imported_table_drives_the_estimates(bundle_table, tmp_path):
    _, output, block = bundle_table
    table = import_table(output)
    assert table.read_only and table.calibration is not None
    est = fast_estimator(table=table)
    first = est.get_estimation(block)
    assert est.profiler.profiled == 0 and first > 0
    # Doctor one entry (re-signing the file): the estimate follows the table.
    with open(output) as f:
        data = json.load(f)
    key = est.functions(block)[0].key
    data["entries"][key]["ms"] += 100.0
    doctored = tmp_path / "doctored.json"
    doctored.write_text(measure.table_text(data["fingerprint"], data["calibration"],
                                           data["entries"], data["statistic"]))
    est2 = fast_estimator(table=import_table(str(doctored)))
    assert est2.get_estimation(block) == pytest.approx(
        first + 100.0 * data["calibration"]["a"])


def test_imported_table_is_never_extended_here(bundle_table):
    _, output, _ = bundle_table
    est = fast_estimator(table=import_table(output))
    other = small_block(8, 24)  # functions the bundle did not cover
    with pytest.raises(ProfileTableError, match="lacks .* functions") as info:
        est.get_estimation(other)
    assert output in str(info.value)


def test_import_refuses_an_edited_table(bundle_table, tmp_path):
    _, output, _ = bundle_table
    with open(output) as f:
        text = f.read()
    edited = tmp_path / "edited.json"
    edited.write_text(text.replace('"ms": ', '"ms": 1', 1))
    with pytest.raises(ProfileTableError, match="checksum mismatch"):
        import_table(str(edited))


def test_export_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export_bundle(str(tmp_path), small_block(), networks=[])


def test_command_line_exports_a_search_space(tmp_path, capsys):
    from nnabla_nas.contrib.estimator.bundle import main
    folder = tmp_path / "b"
    assert main(["export", str(folder), "--space", "darts", "--shape", "3,8,8",
                 "--input", "1,3,16,16"]) == 0
    assert "run_bundle.py" in capsys.readouterr().out
    with open(folder / "manifest.json") as f:
        data = json.load(f)
    names = {json.loads(e["key"])[0] for e in data["functions"]}
    assert {"MaxPooling", "AveragePooling", "DepthwiseConvolution",
            "Convolution"} <= names
    assert len(data["networks"]) == 8

