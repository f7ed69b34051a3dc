"""The README example runs verbatim and prints the tree it shows."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _blocks(lang):
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_example_is_the_quickstart_file():
    (code,) = _blocks("python")
    assert code == (ROOT / "examples" / "quickstart.py").read_text()


def test_readme_example_runs_verbatim_and_prints_the_tree_shown(tmp_path):
    (code,) = _blocks("python")
    script = tmp_path / "readme_example.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    (shown,) = [b for b in _blocks("text") if b.startswith("MyModel(")]
    assert result.stdout == shown


def test_readme_quick_start_has_the_two_commands():
    (commands,) = _blocks("bash")
    lines = [line.split("#")[0].strip() for line in commands.splitlines()]
    assert [line for line in lines if line] == ["make run", "make test"]
