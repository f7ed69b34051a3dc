"""tools/find_python.sh picks a working CPython 3.8-3.10: PATH first, then pyenv."""
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "find_python.sh"


def _stub(path: Path, exit_code: int) -> Path:
    """A fake interpreter: exit 0 stands for a supported version, 1 for another
    version, 127 for a pyenv shim that cannot start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(0o755)
    return path


def _run(tmp_path, path_dirs, pyenv_root=None):
    tools = tmp_path / "coreutils"
    tools.mkdir(exist_ok=True)
    for tool in ("ls", "sort", "cat"):
        if not (tools / tool).exists():
            (tools / tool).symlink_to(shutil.which(tool))
    env = {"PATH": os.pathsep.join([str(d) for d in path_dirs] + [str(tools)]),
           "HOME": str(tmp_path / "home")}
    if pyenv_root:
        env["PYENV_ROOT"] = str(pyenv_root)
    return subprocess.run([shutil.which("bash"), str(SCRIPT)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_prefers_a_supported_interpreter_on_path(tmp_path):
    bin_dir = tmp_path / "bin"
    _stub(bin_dir / "python3.10", 127)  # an inactive pyenv shim fails to start
    good = _stub(bin_dir / "python3.9", 0)
    _stub(bin_dir / "python3", 1)  # 3.11: refused
    pyenv = tmp_path / "pyenv"
    _stub(pyenv / "versions" / "3.10.4" / "bin" / "python", 0)
    result = _run(tmp_path, [bin_dir], pyenv)
    assert result.returncode == 0 and result.stdout.strip() == str(good)


def test_falls_back_to_the_newest_pyenv_version(tmp_path):
    bin_dir = tmp_path / "bin"
    _stub(bin_dir / "python3", 1)
    pyenv = tmp_path / "pyenv"
    _stub(pyenv / "versions" / "3.8.18" / "bin" / "python", 0)
    newest = _stub(pyenv / "versions" / "3.10.13" / "bin" / "python", 0)
    _stub(pyenv / "versions" / "3.9.2" / "bin" / "python", 0)
    _stub(pyenv / "versions" / "3.11.7" / "bin" / "python", 1)
    result = _run(tmp_path, [bin_dir], pyenv)
    assert result.returncode == 0 and result.stdout.strip() == str(newest)


def test_explains_what_to_install_when_none_works(tmp_path):
    bin_dir = tmp_path / "bin"
    _stub(bin_dir / "python3", 1)
    result = _run(tmp_path, [bin_dir], tmp_path / "no-pyenv")
    assert result.returncode == 1 and result.stdout == ""
    assert "no working Python 3.8, 3.9 or 3.10" in result.stderr
    assert "pyenv install 3.10" in result.stderr and "make PYTHON=" in result.stderr


def test_the_found_interpreter_really_is_supported():
    found = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                           timeout=60).stdout.strip()
    version = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    assert version in ("(3, 8)", "(3, 9)", "(3, 10)")
