"""The Makefile rebuilds .venv's packages exactly when the requirements change."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path):
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "tools/find_python.sh"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    stamp = tmp_path / ".venv" / ".installed"
    stamp.touch()
    past = time.time() - 100
    for name in ("Makefile", "requirements.txt", "pyproject.toml", "tools/find_python.sh"):
        os.utime(tmp_path / name, (past, past))
    return tmp_path


def _dry_run(project, target):
    return subprocess.run(["make", "-n", target], cwd=project, capture_output=True,
                          text=True, timeout=60).stdout


def test_up_to_date_venv_is_not_reinstalled(project):
    out = _dry_run(project, "test")
    assert "pip install" not in out and "-m pytest" in out


def test_changed_requirements_reinstall_into_the_venv(project):
    (project / "requirements.txt").write_text("nnabla>=1.33,<2\nnumpy\n")
    out = _dry_run(project, "test")
    assert "pip install --quiet -r requirements.txt" in out
    assert out.index("pip install") < out.index("-m pytest")


def test_run_and_test_both_set_up_first(project):
    os.remove(project / ".venv" / ".installed")
    for target in ("run", "test"):
        out = _dry_run(project, target)
        assert "tools/find_python.sh" in out and "pip install" in out
