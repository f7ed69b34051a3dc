""".ci/install_graphviz: CI installs graphviz's dot when it is missing (so the picture
tests run instead of skipping), quietly, and does nothing when dot is there."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "install_graphviz"


def _fake_apt(bin_dir: Path, log: Path, installs_dot: bool = True) -> None:
    """An apt-get that logs its arguments and its DEBIAN_FRONTEND, and on ``install``
    puts a ``dot`` into ``bin_dir``."""
    bash = shutil.which("bash")
    dot = f'printf "#!{bash}\\n" > "{bin_dir}/dot"; {shutil.which("chmod")} +x "{bin_dir}/dot"'
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "apt-get").write_text(
        f"#!{bash}\n"
        f'echo "$DEBIAN_FRONTEND $*" >> "{log}"\n'
        f'if [ "$1" != update ]; then {dot if installs_dot else ":"}; fi\n'
        f"echo chatter\n")
    (bin_dir / "apt-get").chmod(0o755)


def _run(bin_dir: Path):
    # Only bin_dir on PATH: the machine's own dot (if any) must not be found.
    return subprocess.run([shutil.which("bash"), str(SCRIPT)], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(bin_dir)})


def test_installs_graphviz_quietly_when_dot_is_missing(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    _fake_apt(bin_dir, log)
    result = _run(bin_dir)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq --no-install-recommends graphviz"]
    assert result.stdout == "installing graphviz (dot is missing)\n"  # apt's chatter hidden
    assert (bin_dir / "dot").is_file()


def test_does_nothing_when_dot_is_there(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    _fake_apt(bin_dir, log)
    (bin_dir / "dot").write_text("#!/bin/sh\n")
    (bin_dir / "dot").chmod(0o755)
    result = _run(bin_dir)
    assert result.returncode == 0 and result.stdout == "" and not log.exists()


def test_fails_when_the_install_gives_no_dot(tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    _fake_apt(bin_dir, log, installs_dot=False)
    result = _run(bin_dir)
    assert result.returncode == 1 and "dot is not on PATH" in result.stderr


def test_ci_installs_graphviz_before_the_tests():
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert lines.index(".ci/install_graphviz") < lines.index("make test")
    assert os.access(SCRIPT, os.X_OK)
