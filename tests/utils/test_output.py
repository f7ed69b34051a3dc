"""RunOutput: an output folder belongs to one run. Only new, empty or this tool's own
folders are used; --overwrite removes only the files the replaced run wrote; links are
never followed; a lock stops a second run on the folder."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nnabla_nas.utils.files import atomic_path, atomic_write_text
from nnabla_nas.utils.output import LOCK_NAME, MARKER, OutputError, RunOutput, adding_to, \
    refused_reason

ROOT = Path(__file__).resolve().parents[2]


def make(path, config, **kw):
    out = RunOutput(str(path), config, quiet=True, **kw)
    out.close()
    return out


def snapshot(folder):
    """Every file under ``folder`` with its bytes (links as their target)."""
    files = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_symlink():
            files[str(p)] = ("link", os.readlink(p))
        elif p.is_file():
            files[str(p)] = p.read_bytes()
    return files


def test_same_config_reuses_the_folder_and_keeps_its_files(tmp_path):
    make(tmp_path, {"seed": 1})
    (tmp_path / "arch.json").write_text("{}")
    make(tmp_path, {"seed": 1})
    assert (tmp_path / "arch.json").exists()


def test_the_marker_records_the_run_and_what_it_wrote(tmp_path):
    out = RunOutput(str(tmp_path / "run"), {"seed": 1}, quiet=True)
    out.update_summary(a=1)
    out.path("checkpoints", "search", "")
    out.close()
    marker = json.loads((tmp_path / "run" / MARKER).read_text())
    assert marker["tool"] == "nnabla-nas" and marker["identity"].startswith("sha256:")
    assert marker["pid"] == os.getpid()
    assert set(marker["files"]) == {"config.yaml", "log.txt", "summary.json",
                                    "checkpoints"}


def test_other_config_is_refused_unless_overwrite(tmp_path):
    make(tmp_path, {"seed": 1})
    with pytest.raises(OutputError, match="holds a different run's config.yaml"):
        make(tmp_path, {"seed": 2})


def test_overwrite_of_this_tools_folder_removes_only_what_that_run_wrote(tmp_path):
    out = RunOutput(str(tmp_path), {"seed": 1}, quiet=True)
    (Path(out.path("checkpoints", "search", "epoch-00001"))).mkdir(parents=True)
    out.update_summary(a=1)
    out.close()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "weights.h5").write_text("mine too: the run above never wrote it")
    make(tmp_path, {"seed": 2}, overwrite=True)
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "weights.h5").read_text().startswith("mine too")
    assert "seed: 2" in (tmp_path / "config.yaml").read_text()


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("files", [
    {"summary.json": '{"mine": 1}', "arch.json": '{"mine": 2}', "log.txt": "my log\n"},
    {"config.yaml": "seed: 9\n", "checkpoints/search/x/params.npz": "mine",
     "other.txt": "other tool"},
], ids=["results-named-like-ours", "config-and-checkpoints-of-another-tool"])
def test_a_folder_of_foreign_files_is_refused_and_left_byte_identical(
        tmp_path, files, overwrite):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match="not empty and not a run folder of this tool"):
        make(tmp_path, {"seed": 1}, overwrite=overwrite)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where, reason", [
    ("/", "the filesystem root"),
    ("/etc", "a system folder"),
    ("/usr/local/share", "a system folder"),
    ("/tmp", "a shared system folder"),
    ("~", "the home folder"),
    (str(ROOT), "the project checkout"),
    # Refused for being above the checkout, or for what the folder is itself (a clone
    # in /tmp has /tmp above it, a shared system folder).
    (str(ROOT.parent), ("a folder above the project checkout", "a shared system folder",
                        "a system folder", "the home folder", "the filesystem root")),
    (str(ROOT / "nnabla_nas" / "out"), "inside the project's nnabla_nas/ folder"),
], ids=["root", "etc", "usr", "tmp", "home", "checkout", "above-checkout", "package"])
def test_obvious_non_run_folders_are_refused(where, reason):
    path = os.path.expanduser(where)
    assert refused_reason(path) in (reason if isinstance(reason, tuple) else (reason,))
    with pytest.raises(OutputError, match="refusing to write a run into"):
        make(path, {"seed": 1})


def test_run_folders_under_the_checkout_and_tmp_are_fine(tmp_path):
    assert refused_reason(str(ROOT / "output" / "quickstart")) is None
    assert refused_reason(str(tmp_path / "out")) is None


@pytest.mark.parametrize("name, message", [
    ("file", "exists and is a file, not a folder"),
    ("file/out", "cannot create the folder: .*file is a file"),
], ids=["a-file", "under-a-file"])
def test_an_output_path_that_cannot_be_a_folder_is_one_error(tmp_path, name, message):
    (tmp_path / "file").write_text("a file")
    path = tmp_path / name
    with pytest.raises(OutputError, match=message):
        make(path, {"seed": 1})


def test_a_symlinked_log_is_never_followed(tmp_path):
    run = tmp_path / "run"
    make(run, {"seed": 1})
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / "log.txt").unlink()
    (run / "log.txt").symlink_to(victim)
    with pytest.raises(OutputError, match="log.txt: a symbolic link"):
        make(run, {"seed": 1})
    assert victim.read_text() == "precious\n"


def test_a_symlinked_result_is_replaced_not_written_through(tmp_path):
    out = RunOutput(str(tmp_path / "run"), {"seed": 1}, quiet=True)
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    os.symlink(victim, out.root + "/arch.json")
    with pytest.raises(OutputError, match="arch.json: a symbolic link"):
        out.path("arch.json")
    atomic_write_text(out.root + "/arch.json", "{}")  # the helper replaces the link
    out.close()
    assert victim.read_text() == "precious"
    assert not os.path.islink(out.root + "/arch.json")


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(str(tmp_path / "f.txt")) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_a_folder_whole(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "old").write_text("old")
    with atomic_path(str(tmp_path / "ck"), folder=True) as tmp:
        Path(tmp, "new").write_text("new")
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def held_lock(tmp_path):
    """A run folder whose lock a live process holds."""
    run = tmp_path / "run"
    make(run, {"seed": 1})
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run / LOCK_NAME)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield run, proc
    proc.kill()
    proc.wait()


def test_a_second_run_on_a_locked_folder_stops_naming_the_holder(held_lock):
    run, proc = held_lock
    before = snapshot(run)
    with pytest.raises(OutputError, match=f"in use by another run \\(pid {proc.pid}\\)"):
        make(run, {"seed": 1})
    assert snapshot(run) == before


def test_the_lock_of_a_killed_run_is_not_stale(held_lock):
    run, proc = held_lock
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / LOCK_NAME).read_text() == str(proc.pid)  # left behind, not held
    make(run, {"seed": 1})  # the OS released the lock with the process


def test_the_lock_is_held_while_the_run_is_open(tmp_path):
    first = RunOutput(str(tmp_path), {"seed": 1}, quiet=True)
    try:
        with pytest.raises(OutputError, match=f"pid {os.getpid()}"):
            make(tmp_path, {"seed": 1})
    finally:
        first.close()
    make(tmp_path, {"seed": 1})


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


def test_commands_adding_files_record_them_and_wait_for_no_run(tmp_path):
    make(tmp_path, {"seed": 1})
    with adding_to(str(tmp_path)) as add:
        Path(add("network.nnp")).write_text("exported")
    marker = json.loads((tmp_path / MARKER).read_text())
    assert "network.nnp" in marker["files"]
    running = RunOutput(str(tmp_path), {"seed": 1}, quiet=True)
    try:
        with pytest.raises(OutputError, match=f"in use by another run \\(pid {os.getpid()}"):
            with adding_to(str(tmp_path)):
                pass
    finally:
        running.close()
    make(tmp_path, {"seed": 2}, overwrite=True)  # the export goes with its run
    assert not (tmp_path / "network.nnp").exists()
