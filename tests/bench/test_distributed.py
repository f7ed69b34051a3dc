"""bench/distributed.py keeps running: its image_folder part on a few generated images,
in a folder it deletes afterwards. What it measures is not asserted (time never is)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_image_folder_part_prints_one_row_per_count_and_cleans_up(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "distributed.py"), "--part", "image_folder",
         "--images", "100", "120", "--workdir", str(tmp_path), "--seed", "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "[nnabla][INFO]" not in line]
    assert lines[0].startswith("image_folder: 64x64 JPEGs, 10 classes")
    assert lines[2].split()[:2] == ["images", "source"]
    rows = [line.split() for line in lines[3:]]
    assert [(r[0], r[1]) for r in rows] == [("100", "ours"), ("120", "ours")]
    for row in rows:
        [float(v) for v in row[2:]]
    assert list(tmp_path.iterdir()) == []  # the generated images are deleted
