"""The tiny search-then-train config that the end-to-end tests run (seconds on a CPU)."""
import copy


def tiny_run(**top):
    """A fresh copy of the tiny config, with top-level keys replaced by ``top``."""
    config = {
        "seed": 3,
        "quiet": True,
        "dataset": {"name": "digits", "test_fraction": 0.3, "valid_fraction": 0.3},
        "search": {
            "epochs": 2, "warmup_epochs": 1, "batch_size": 128,
            "space": {"name": "darts", "init_channels": 2, "num_cells": 3, "num_nodes": 2,
                      "multiplier": 2, "stem_multiplier": 1},
            "searcher": {"name": "darts", "order": 2},
        },
        "train": {
            "epochs": 2, "batch_size": 128,
            "net": {"name": "darts", "init_channels": 4, "num_cells": 3, "auxiliary": True,
                    "drop_path_prob": 0.2},
        },
    }
    config.update(copy.deepcopy(top))
    return config
