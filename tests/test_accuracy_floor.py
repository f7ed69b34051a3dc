"""End to end through the command line: a seeded tiny DARTS search on the bundled
digits, then retraining what it found, must reach a test accuracy floor.

Unlike the other end-to-end tests (outputs, resume, errors), this one fails when the
search or the training stops learning: a broken gradient, a derivation that picks
``none`` everywhere or a retraining that diverges all give near-chance accuracy.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

#: A search of two epochs (one warm-up) on a 3-cell, 2-node supernet, then four
#: epochs of a 6-channel, 3-cell network: about 35 s of CPU.
CONFIG = {
    "seed": 1,
    "quiet": True,
    "dataset": {"name": "digits", "test_fraction": 0.3, "valid_fraction": 0.3},
    "search": {
        "epochs": 2, "warmup_epochs": 1, "batch_size": 64,
        "space": {"name": "darts", "init_channels": 2, "num_cells": 3, "num_nodes": 2,
                  "multiplier": 2, "stem_multiplier": 1},
        "searcher": {"name": "darts", "order": 1},
    },
    "train": {
        "epochs": 4, "batch_size": 32,
        "net": {"name": "darts", "init_channels": 6, "num_cells": 3, "auxiliary": False,
                "drop_path_prob": 0.0},
    },
}

#: Three runs of exactly this config on the development machine (nnabla 1.39.0, CPU)
#: gave a test accuracy of 0.9833 each time (531 of 540 test images); chance is 0.1.
#: The floor leaves eight points for other CPUs' and BLAS libraries' rounding.
FLOOR = 0.90


@pytest.mark.slow
def test_seeded_tiny_search_and_retrain_reach_the_accuracy_floor(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--config",
                             str(config), "--output-path", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["test_accuracy"] >= FLOOR, summary
    assert summary["valid_accuracy"] >= FLOOR, summary
