"""RunOutput: the output folder refuses another run's config and replaces only on
request, deleting nothing it did not write."""
import pytest

from nnabla_nas.utils.output import RUN_FILES, OutputError, RunOutput


def make(path, config, **kw):
    out = RunOutput(str(path), config, quiet=True, **kw)
    out.close()
    return out


def test_same_config_reuses_the_folder_and_keeps_its_files(tmp_path):
    make(tmp_path, {"seed": 1})
    (tmp_path / "arch.json").write_text("{}")
    make(tmp_path, {"seed": 1})
    assert (tmp_path / "arch.json").exists()


def test_other_config_is_refused_unless_overwrite(tmp_path):
    make(tmp_path, {"seed": 1})
    with pytest.raises(OutputError, match="holds a different run's config.yaml"):
        make(tmp_path, {"seed": 2})


def test_overwrite_removes_only_what_runs_write(tmp_path):
    make(tmp_path, {"seed": 1})
    (tmp_path / "checkpoints" / "search" / "epoch-00001").mkdir(parents=True)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    make(tmp_path, {"seed": 2}, overwrite=True)
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert "seed: 2" in (tmp_path / "config.yaml").read_text()
    assert set(RUN_FILES) >= {"checkpoints", "summary.json", "weights.h5", "arch.json"}


def test_summary_updates_merge(tmp_path):
    out = RunOutput(str(tmp_path), {"seed": 1}, quiet=True)
    out.update_summary(a=1)
    assert out.update_summary(b=2) == {"a": 1, "b": 2}
    out.close()


def test_a_rerun_differing_only_in_presentation_is_the_same_run(tmp_path):
    make(tmp_path, {"seed": 1, "quiet": True})
    (tmp_path / "arch.json").write_text("{}")
    make(tmp_path, {"seed": 1, "quiet": False})
    assert (tmp_path / "arch.json").exists()
    assert "quiet: false" in (tmp_path / "config.yaml").read_text()
