"""NAS-Bench-201 results read from NATS-Bench topology files that ``nats_bench``'s own
record classes wrote (tests/contrib/nats_files.py), in both of its forms."""
import sys

import pytest

import nnabla_nas.builtins  # noqa: F401
from nnabla_nas.config.fields import ConfigError
from nnabla_nas.contrib.architecture import Architecture
from nnabla_nas.contrib.nasbench201 import parse_arch_str
from nnabla_nas.contrib.nasbench201_table import BenchmarkTable, all_arch_strings
from tests.contrib import nats_files as N

pytest.importorskip("nats_bench")  # the `nasbench` extra; `make test` installs it

ARCHS = [all_arch_strings()[i] for i in (0, 3906, 12000, 15624)]


def arch(text):
    return Architecture("nasbench201", {}, parse_arch_str(text))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("nats")
    return {"fast": N.write_tss(str(root / "NATS-tss-v1_0-3ffb9-simple"), ARCHS,
                                hps=("12",)),
            "full": N.write_tss(str(root / "NATS-tss-v1_0-3ffb9"), ARCHS, fast=False,
                                hps=("200",))}


def expected(text, data, eval_set, hp):
    return sum(N.accuracy(text, data, eval_set, hp, s) for s in N.SEEDS) / 200.0


@pytest.mark.parametrize("dataset, metric, data, eval_set", [
    ("cifar10", "valid", "cifar10-valid", "x-valid"),
    ("cifar10", "test", "cifar10", "ori-test"),
    ("cifar100", "valid", "cifar100", "x-valid"),
    ("ImageNet16-120", "test", "ImageNet16-120", "x-test")])
def test_both_forms_give_the_recorded_accuracy_and_costs(files, dataset, metric, data,
                                                         eval_set):
    assert len(all_arch_strings()) == 15625 == len(set(all_arch_strings()))
    for form, hp in (("fast", 12), ("full", 200)):
        table = BenchmarkTable(files[form], dataset, hp, metric)
        for text in ARCHS:
            entry = table.entry(arch(text))
            assert entry.accuracy == pytest.approx(expected(text, data, eval_set, str(hp)))
            c = N.costs(text)
            assert entry.costs == pytest.approx({"params": c["params"], "flops": c["flops"],
                                                 "latency": 1000 * c["latency"]})
    # The index is the benchmark's: its position in the file's list.
    assert table.index(arch(ARCHS[1])) == 3906


def test_a_bad_benchmark_is_one_line_naming_the_key_and_the_problem(files, tmp_path,
                                                                    monkeypatch):
    def problem(path, hp=200, dataset="cifar10"):
        with pytest.raises(ConfigError) as e:
            BenchmarkTable(str(path), dataset, hp, "valid", "search.searcher.table.path"
                           ).entry(arch(all_arch_strings()[1]))
        assert "\n" not in str(e.value) and \
            str(e.value).startswith("search.searcher.table.path: "), str(e.value)
        return str(e.value)

    damaged = tmp_path / "damaged.pickle.pbz2"
    damaged.write_bytes(open(files["full"], "rb").read()[:500])
    assert "is not a readable NATS-Bench topology benchmark" in problem(damaged)
    (tmp_path / "nb101.pkl").write_bytes(b"\x80\x04K\x01.")
    assert "damaged or another format" in problem(tmp_path / "nb101.pkl")
    size = N.write_tss(str(tmp_path / "NATS-sss-v1_0-50262-simple"), [],
                       meta_archs=["8:16:24:32:40", "64:64:64:64:64"])
    assert "a benchmark of another search space" in problem(size)
    short = N.write_tss(str(tmp_path / "short"), [], meta_archs=all_arch_strings()[:10])
    assert "lists 10 architectures, not the 15625" in problem(short)
    assert "has no results after 200 epochs (it has 12)" in problem(files["fast"])
    assert "has no cifar10-valid results" in problem(
        N.write_tss(str(tmp_path / "c100"), ARCHS[:1], datasets=("cifar100",)))
    assert "no readable results for architecture 1 " in problem(files["fast"], 12)
    assert "no readable results for architecture 1 " in problem(files["full"])
    assert "no such file or folder" in problem(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "a folder without meta.pickle.pbz2" in problem(tmp_path / "empty")
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    assert "pip install 'nnabla-nas[nasbench]'" in problem(files["fast"])
