"""Profile tables: stable keys, reuse within and across processes, and refusal of
foreign, corrupt, truncated or edited files."""
import json
import os
import subprocess
import sys

import nnabla as nn
import nnabla.functions as F
import numpy as np
import pytest

from nnabla_nas.contrib.estimator import (FunctionSpec, LatencyEstimator, ProfileTable,
                                          ProfileTableError, graph_functions, measure)

from .helpers import fast_estimator, small_block

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def test_keys_are_stable_and_round_trip():
    x = nn.Variable((1, 4, 8, 8))
    m = nn.Variable.from_numpy_array(np.zeros((1, 4, 1, 1), np.float32))
    y1 = F.batch_normalization(x, m, m, m, m, batch_stat=False, decay_rate=0.9, eps=1e-5)
    y2 = F.batch_normalization(x, m, m, m, m, batch_stat=False, decay_rate=0.9, eps=1e-5)
    (s1,), (s2,) = graph_functions(y1), graph_functions(y2)
    assert s1.key == s2.key
    # NNabla reads 0.9 back as 0.8999999761581421; the key rounds to float32 precision.
    assert s1.args["decay_rate"] == 0.9 and s1.args["eps"] == 1e-5
    assert FunctionSpec.from_key(s1.key) == s1
    assert s1.key == FunctionSpec("BatchNormalization", dict(s1.args),
                                  [((1, 4, 8, 8), "float32")] +
                                  [((1, 4, 1, 1), np.float32)] * 4).key
    (other,) = graph_functions(F.batch_normalization(
        nn.Variable((1, 4, 8, 16)), m, m, m, m, batch_stat=False))
    assert other.key != s1.key


def test_bad_key_is_refused():
    with pytest.raises(ValueError, match="not a function key"):
        FunctionSpec.from_key("Convolution(3x3)")


def test_second_estimation_profiles_nothing_new():
    est = fast_estimator()
    block = small_block()
    first = est.get_estimation(block)
    n = est.profiler.profiled
    assert n == len({s.key for s in est.functions(block)}) > 0
    assert est.get_estimation(block) == first
    est.predict(block.project)
    assert est.profiler.profiled == n
    # A block of the same configuration shares every key.
    est.get_estimation(small_block())
    assert est.profiler.profiled == n


def test_table_is_saved_and_reused_by_another_process(tmp_path):
    path = str(tmp_path / "profile.json")
    est = fast_estimator(table=path)
    est.get_estimation(small_block())
    assert os.path.isfile(path) and len(ProfileTable.load(path)) == est.profiler.profiled
    code = ("import nnabla as nn; from nnabla_nas.contrib.pnas import InvertedResidual;"
            "from nnabla_nas.contrib.estimator import LatencyEstimator;"
            "b = InvertedResidual(8, 8, 3, 1, 3); b(nn.Variable((1, 8, 8, 8)));"
            f"e = LatencyEstimator(table={path!r}, warmup=0, repeats=1, "
            "calibrate_mode='never');"
            "e.get_estimation(b); print('profiled', e.profiler.profiled)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "profiled 0" in out.stdout


def test_concurrent_writers_merge_and_leave_no_temporary_files(tmp_path):
    path = str(tmp_path / "profile.json")
    fp = measure.device_fingerprint()
    a, b = ProfileTable.open(path, fp), ProfileTable.open(path, fp)
    a.put("k1", 1.0, 3)
    a.save()
    b.put("k2", 2.0, 3)
    b.save()
    merged = ProfileTable.load(path, fp)
    assert merged.get("k1") == 1.0 and merged.get("k2") == 2.0
    assert os.listdir(tmp_path) == ["profile.json"]


def _write_table(path, fingerprint, entries=None):
    table = ProfileTable(fingerprint, str(path))
    for key, ms in (entries or {"k": 1.5}).items():
        table.put(key, ms, 5)
    table.save()


def test_table_of_another_device_is_refused_naming_file_and_difference(tmp_path):
    path = tmp_path / "profile.json"
    fp = dict(measure.device_fingerprint(), nnabla="0.0.1")
    _write_table(path, fp)
    with pytest.raises(ProfileTableError) as info:
        LatencyEstimator(table=str(path))
    message = str(info.value)
    assert str(path) in message and "nnabla 0.0.1" in message
    assert "differs in nnabla" in message and "delete it" in message


@pytest.mark.parametrize("damage, expected", [
    (lambda text: text[: len(text) // 2], "corrupt or truncated"),
    (lambda text: text.replace('"ms": 1.5', '"ms": 0.5'), "checksum mismatch"),
    (lambda text: "{}", "not a profile table"),
    (lambda text: text.replace('"version": 2', '"version": 99'), "format version 99"),
    (lambda text: text.replace('"ms": 1.5', '"ms": "fast"'), "entry"),
])
def test_corrupt_tables_are_refused_naming_the_file(tmp_path, damage, expected):
    path = tmp_path / "profile.json"
    _write_table(path, measure.device_fingerprint())
    path.write_text(damage(path.read_text()))
    with pytest.raises(ProfileTableError, match=expected) as info:
        LatencyEstimator(table=str(path))
    assert str(path) in str(info.value)


def test_table_with_another_statistic_is_refused(tmp_path):
    path = str(tmp_path / "profile.json")
    _write_table(path, measure.device_fingerprint())
    with pytest.raises(ProfileTableError, match="'lower_quartile', this estimator uses 'min'"):
        LatencyEstimator(table=path, statistic="min")


def test_table_file_layout(tmp_path):
    path = tmp_path / "profile.json"
    _write_table(path, measure.device_fingerprint(), {"b": 2.0, "a": 1.0})
    data = json.loads(path.read_text())
    assert data["format"] == "nnabla-nas-profile-table" and data["units"] == "ms"
    assert list(data["entries"]) == ["a", "b"]
    assert data["entries"]["a"] == {"ms": 1.0, "repeats": 5}
    assert data["checksum"].startswith("sha256:")
    assert set(data["fingerprint"]) == {"context", "device", "machine", "nnabla"}
