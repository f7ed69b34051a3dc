"""The output folder of a run: config, log, summaries, TensorBoard events."""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import yaml

CONFIG_NAME = "config.yaml"
#: Everything a run writes in its output folder; --overwrite removes these only.
RUN_FILES = (CONFIG_NAME, "log.txt", "summary.json", "arch.json", "weights.h5",
             "search_weights.h5", "tensorboard", "checkpoints", "pictures",
             "alpha_history.json", "network.nnp", "network.onnx")


#: Top-level config keys that change how a run is shown, not what it computes: a rerun
#: that differs only in these resumes the same run.
PRESENTATION_KEYS = ("quiet",)


def _identity(config) -> object:
    if not isinstance(config, dict):
        return config
    return {k: v for k, v in config.items() if k not in PRESENTATION_KEYS}


class OutputError(RuntimeError):
    """The output folder cannot be used for this run."""


@contextmanager
def atomic_path(path: str, extension: str = "") -> Iterator[str]:
    """A temporary path next to ``path`` to write to; it replaces ``path`` only if the
    block finishes without an exception, and is gone afterwards in every case, so a
    crash never leaves a half-written file at ``path``.

    Args:
        path: The final file.
        extension: Ending of the temporary name, for writers that pick the format
            from the file name (NNabla's ``save`` does).

    Raises:
        FileNotFoundError: when the folder of ``path`` does not exist.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder!r} does not exist")
    tmp = f"{path}.tmp-{os.getpid()}{extension}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (see
    :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


class RunOutput:
    """A run's output folder.

    It holds ``config.yaml`` (the resolved config), ``log.txt``, ``summary.json``,
    ``tensorboard/`` and what searchers and trainers write. A folder holding another
    run's config is refused unless ``overwrite`` is set; a folder holding this same
    config is reused, so a rerun resumes.

    Args:
        path: The folder.
        config: The resolved config as plain data.
        overwrite: Accept a folder that holds a different run's config.
        quiet: Log to the file only, not to the console.
    """

    def __init__(self, path: str, config: dict, overwrite: bool = False,
                 quiet: bool = False):
        self.root = os.path.abspath(path)
        self.quiet = quiet
        text = yaml.safe_dump(config, sort_keys=False)
        config_path = os.path.join(self.root, CONFIG_NAME)
        if os.path.exists(config_path):
            with open(config_path, encoding="utf-8") as f:
                try:
                    previous = yaml.safe_load(f)
                except yaml.YAMLError:
                    previous = None
            if _identity(previous) != _identity(config):
                if not overwrite:
                    raise OutputError(
                        f"{self.root}: holds a different run's {CONFIG_NAME}; choose "
                        "another --output-path, or pass --overwrite to replace that run")
                self._remove_run_files()
        os.makedirs(self.root, exist_ok=True)
        atomic_write_text(config_path, text)
        self._writer = None
        self.logger = logging.getLogger(f"nnabla_nas.run.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        handler = logging.FileHandler(self.path("log.txt"), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(handler)
        if not quiet:
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(console)

    def _remove_run_files(self) -> None:
        """Delete what a run writes here (and nothing else), so that a replaced run
        starts afresh instead of resuming another run's checkpoints."""
        for name in RUN_FILES:
            path = os.path.join(self.root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)

    def path(self, *parts: str) -> str:
        """A path inside the folder (parent folders are created)."""
        full = os.path.join(self.root, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    @property
    def writer(self):
        """The TensorBoard writer (tensorboardX), created on first use."""
        if self._writer is None:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(logdir=self.path("tensorboard"))
        return self._writer

    def read_json(self, name: str) -> Optional[dict]:
        """The JSON file ``name`` of the folder, or None if it does not exist."""
        path = os.path.join(self.root, name)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def update_summary(self, **values: Any) -> dict:
        """Merge ``values`` into ``summary.json`` and return the whole summary."""
        summary = self.read_json("summary.json") or {}
        summary.update(values)
        write_json(self.path("summary.json"), summary)
        return summary

    def close(self) -> None:
        """Flush and close the log and the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)
