"""The output folder of a run: config, log, summaries, TensorBoard events.

An output folder belongs to one run. A run writes only into a new or empty folder, or
one this tool created: it leaves a marker file there (:data:`MARKER`) recording the
run's identity and every file it wrote, so that ``--overwrite`` removes those files and
nothing else. Obviously wrong folders (``/``, the home folder, the project checkout,
system folders) are refused, and while a run is writing, an OS file lock (released by
the OS when the process dies, so a killed run leaves no stale lock) stops a second run
on the same folder.
"""
from __future__ import annotations

import datetime
import errno
import hashlib
import json
import logging
import os
import shutil
import sys
from contextlib import contextmanager
from typing import IO, Any, Callable, Iterable, Iterator, List, Optional

import yaml

from .files import FileInputError, atomic_path, atomic_write_text, open_append, \
    quote, read_json, write_json

__all__ = ["CONFIG_NAME", "LOCK_NAME", "MARKER", "OutputError", "RunOutput", "adding_to",
           "atomic_path", "atomic_write_text", "check_output_folder", "write_json"]

CONFIG_NAME = "config.yaml"
#: The marker that makes a folder this tool's: the run's identity and what it wrote.
MARKER = ".nnabla-nas-run.json"
#: The lock file of the folder (held with ``flock`` while a run writes there).
LOCK_NAME = ".nnabla-nas.lock"
#: What a run typically writes in its output folder (the marker lists what it did).
RUN_FILES = (CONFIG_NAME, "log.txt", "summary.json", "arch.json", "weights.h5",
             "search_weights.h5", "tensorboard", "checkpoints", "pictures",
             "alpha_history.json", "network.nnp", "network.onnx")
_TOOL = "nnabla-nas"
#: System folders no run writes into, nor anywhere below them.
_SYSTEM = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin",
           "/sys", "/usr")
#: Folders a run never writes into directly (their sub-folders are fine).
_SHARED = ("/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/tmp", "/var",
           "/var/tmp", "/Users")

#: Top-level config keys that change how a run is shown, not what it computes: a rerun
#: that differs only in these resumes the same run.
PRESENTATION_KEYS = ("quiet",)


def _identity(config) -> object:
    if not isinstance(config, dict):
        return config
    return {k: v for k, v in config.items() if k not in PRESENTATION_KEYS}


def run_identity(config: Any) -> str:
    """The identity of the run of ``config`` (plain data): a digest of what it
    computes, the same for configs differing only in :data:`PRESENTATION_KEYS`."""
    text = json.dumps(_identity(config), sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class OutputError(RuntimeError):
    """The output folder cannot be used for this run."""


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _checkout() -> str:
    """The folder holding the ``nnabla_nas`` package (the project checkout)."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    return os.path.dirname(package)


def refused_reason(root: str) -> Optional[str]:
    """Why ``root`` is obviously not a run folder, or None: the filesystem root, a
    system folder, the home folder or one above it, the project checkout or one above
    it, or the package's own source."""
    real = os.path.realpath(root)
    home = os.path.realpath(os.path.expanduser("~"))
    checkout = _checkout()
    if os.path.dirname(real) == real:
        return "the filesystem root"
    if any(_is_within(real, s) for s in _SYSTEM):
        return "a system folder"
    if _is_within(home, real) and home != os.sep:
        return "the home folder" if real == home else "a folder above the home folder"
    if real in _SHARED:
        return "a shared system folder"
    if _is_within(checkout, real):
        return "the project checkout" if real == checkout else \
            "a folder above the project checkout"
    for inside in ("nnabla_nas", ".git"):
        if _is_within(real, os.path.join(checkout, inside)):
            return f"inside the project's {inside}/ folder"
    return None


def _entries(root: str) -> List[str]:
    return sorted(n for n in os.listdir(root) if n != LOCK_NAME)


def _read_marker(root: str) -> dict:
    path = os.path.join(root, MARKER)
    try:
        data = read_json(path, limit=1 << 20)
    except (OSError, ValueError) as e:
        raise OutputError(f"{root}: its {MARKER} is unreadable ({e}); move the folder "
                          "away or choose another --output-path") from None
    files = data.get("files") if isinstance(data, dict) else None
    ok = (isinstance(data, dict) and data.get("tool") == _TOOL
          and isinstance(data.get("identity"), str) and isinstance(files, list)
          and all(isinstance(f, str) and f and os.sep not in f and f not in (".", "..")
                  for f in files))
    if not ok:
        raise OutputError(f"{root}: its {MARKER} is not this tool's marker; move the "
                          "folder away or choose another --output-path")
    return data


def check_output_folder(root: str, config: Any, overwrite: bool = False
                        ) -> Optional[dict]:
    """Check that the run of ``config`` may write into ``root``, changing nothing.

    Returns:
        The marker of the folder when it is one of this tool's, else None (the folder
        is new or empty).

    Raises:
        OutputError: naming the folder and what is in the way: an obviously wrong
            folder, a file, a folder that cannot be written, one holding files this
            tool did not write, or (without ``overwrite``) another run's folder.
    """
    root = os.path.abspath(root)
    reason = refused_reason(root)
    if reason is not None:
        raise OutputError(f"{root}: refusing to write a run into {reason}; choose a new "
                          "or empty --output-path")
    if os.path.lexists(root) and (os.path.islink(root) or not os.path.isdir(root)):
        what = "a symbolic link" if os.path.islink(root) else "a file"
        raise OutputError(f"{root}: exists and is {what}, not a folder")
    if not os.path.isdir(root):
        above = os.path.dirname(root)
        while not os.path.exists(above):
            above = os.path.dirname(above)
        if not os.path.isdir(above):
            raise OutputError(f"{root}: cannot create the folder: {above} is a file")
        if not os.access(above, os.W_OK | os.X_OK):
            raise OutputError(f"{root}: cannot create the folder: {above} is not writable")
        return None
    if not os.access(root, os.W_OK | os.X_OK):
        raise OutputError(f"{root}: the folder is not writable")
    entries = _entries(root)
    if not entries:
        return None
    if MARKER not in entries:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more"
                                          if len(entries) > 5 else "")
        raise OutputError(f"{root}: not empty and not a run folder of this tool (it holds "
                          f"{shown}); choose a new or empty --output-path")
    marker = _read_marker(root)
    if marker["identity"] != run_identity(config) and not overwrite:
        raise OutputError(f"{root}: holds a different run's {CONFIG_NAME}; choose "
                          "another --output-path, or pass --overwrite to replace that run "
                          "(only the files it wrote are removed)")
    return marker


def _lock(root: str) -> Optional[int]:
    """Take the folder's lock; return its descriptor (None where ``fcntl`` is missing).

    Raises:
        OutputError: naming the pid of the run holding it.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    path = os.path.join(root, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        raise OutputError(f"{path}: cannot open the lock file ({e.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise OutputError(f"{path}: cannot lock ({e.strerror})") from None
        raise OutputError(f"{root}: in use by another run (pid {holder}); wait for it "
                          "to end, or choose another --output-path") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    return fd


@contextmanager
def adding_to(root: str) -> Iterator[Callable[[str], str]]:
    """Hold the lock of the run folder ``root`` while a command (``derive``,
    ``export``) adds files to it. Yields ``add(name)``, which returns the path of the
    top-level file ``name`` to write, after recording it in the folder's marker.

    Raises:
        OutputError: if another run holds the folder, or ``name`` is a symbolic link.
    """
    root = os.path.abspath(root)
    fd = _lock(root)

    def add(name: str) -> str:
        path = os.path.join(root, name)
        if os.path.islink(path):
            raise OutputError(f"{path}: a symbolic link; refusing to write through it")
        if os.path.lexists(os.path.join(root, MARKER)):
            marker = _read_marker(root)
            if name not in marker["files"]:
                marker["files"].append(name)
                write_json(os.path.join(root, MARKER), marker)
        return path

    try:
        yield add
    finally:
        if fd is not None:
            os.close(fd)


class RunOutput:
    """A run's output folder, held (locked) until :meth:`close`.

    It holds ``config.yaml`` (the resolved config), ``log.txt``, ``summary.json``,
    ``tensorboard/`` and what searchers and trainers write, and the marker
    :data:`MARKER` listing them. A folder of this same run (same config) is reused,
    so a rerun resumes; one of another run is refused unless ``overwrite`` is set, and
    then only the files that run wrote are removed. See :func:`check_output_folder`
    for what else is refused.

    Args:
        path: The folder.
        config: The resolved config as plain data.
        overwrite: Replace another run of this tool in the folder.
        quiet: Log to the file only, not to the console.

    Raises:
        OutputError: naming the folder, for a folder the run may not use, or one
            another live run holds.
    """

    def __init__(self, path: str, config: dict, overwrite: bool = False,
                 quiet: bool = False):
        self.root = os.path.abspath(path)
        self.quiet = quiet
        self._writer = None
        self._lock_fd: Optional[int] = None
        self._log: Optional[IO[str]] = None
        self.logger = logging.getLogger(f"nnabla_nas.run.{id(self)}")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        check_output_folder(self.root, config, overwrite)
        try:
            os.makedirs(self.root, exist_ok=True)
            self._lock_fd = _lock(self.root)
            self._claim(config, overwrite)
            self._log = open_append(self.path("log.txt"))
            handler = logging.StreamHandler(self._log)
        except OSError as e:
            self.close()
            raise OutputError(f"{self.root}: cannot write the run there "
                              f"({e.strerror or e})") from None
        except OutputError:
            self.close()
            raise
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(handler)
        if not quiet:
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(console)

    def _claim(self, config: dict, overwrite: bool) -> None:
        """Under the lock: check again, remove a replaced run's files, write the marker
        and the config."""
        marker = check_output_folder(self.root, config, overwrite)
        identity = run_identity(config)
        files: List[str] = []
        if marker is not None and marker["identity"] == identity:
            files = list(marker["files"])
        elif marker is not None:
            self._remove(marker["files"])
        self._marker = dict(tool=_TOOL, version=1, identity=identity, pid=os.getpid(),
                            started=datetime.datetime.now(datetime.timezone.utc)
                            .isoformat(timespec="seconds"), files=files)
        self._record(CONFIG_NAME, force=True)
        atomic_write_text(self.path(CONFIG_NAME), yaml.safe_dump(config, sort_keys=False))

    def _remove(self, names: Iterable[str]) -> None:
        """Delete what a replaced run wrote here (and nothing else), so that the new run
        starts afresh instead of resuming another run's checkpoints."""
        for name in names:
            if name in (MARKER, LOCK_NAME):
                continue
            path = os.path.join(self.root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)

    def _record(self, name: str, force: bool = False) -> None:
        """Add the top-level ``name`` to the files the marker lists (before writing it,
        so a crash never leaves an unlisted file of ours)."""
        files = self._marker["files"]
        if name in files and not force:
            return
        if name not in files:
            files.append(name)
        write_json(os.path.join(self.root, MARKER), self._marker)

    @property
    def files(self) -> List[str]:
        """The top-level files and folders this run (and earlier runs of the same
        config) wrote in the folder."""
        return list(self._marker["files"])

    def path(self, *parts: str) -> str:
        """A path inside the folder for the run to write (parent folders are created,
        the top-level name is recorded in the marker).

        Raises:
            OutputError: if a part of the path is a symbolic link (never followed).
        """
        full = os.path.join(self.root, *parts)
        for i in range(1, len(parts) + 1):
            if os.path.islink(os.path.join(self.root, *parts[:i])):
                raise OutputError(f"{os.path.join(self.root, *parts[:i])}: a symbolic "
                                  "link; refusing to write through it")
        if parts and parts[0]:
            self._record(parts[0])
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
        """The JSON file ``name`` of the folder, or None if it does not exist.

        Raises:
            OutputError: if it is a symbolic link, not a regular file, or damaged.
        """
        path = os.path.join(self.root, name)
        if not os.path.lexists(path):
            return None
        if os.path.islink(path):
            raise OutputError(f"{path}: a symbolic link; refusing to read through it")
        try:
            return read_json(path, finite=False)
        except (OSError, FileInputError) as e:
            raise OutputError(f"{path}: damaged ({e}); move it away to rerun") from None

    def update_summary(self, **values: Any) -> dict:
        """Merge ``values`` into ``summary.json`` and return the whole summary."""
        summary = self.read_json("summary.json") or {}
        if not isinstance(summary, dict):
            raise OutputError(f"{self.path('summary.json')}: expected a JSON object, got "
                              f"{quote(summary)}")
        summary.update(values)
        write_json(self.path("summary.json"), summary)
        return summary

    def close(self) -> None:
        """Flush and close the log and the TensorBoard writer, and release the folder."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


class _NoWriter:
    """A TensorBoard writer that writes nothing (for :class:`RankOutput`)."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_image(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class RankOutput:
    """The output folder as the ranks other than 0 of a data-parallel job see it: the
    same paths, but nothing is created, locked, logged or written through it (rank 0
    writes; code that writes files checks ``comm.is_main``).

    Args:
        path: The run's folder (the one rank 0 holds).
        rank: This process's rank, naming its logger.
    """

    def __init__(self, path: str, rank: int):
        self.root = os.path.abspath(path)
        self.quiet = True
        self.logger = logging.getLogger(f"nnabla_nas.run.rank{rank}.{id(self)}")
        self.logger.propagate = False
        self.logger.addHandler(logging.NullHandler())
        self.writer = _NoWriter()

    def path(self, *parts: str) -> str:
        """The path of ``parts`` inside the folder (nothing is created)."""
        return os.path.join(self.root, *parts)

    def update_summary(self, **values: Any) -> dict:
        """The values, unwritten (rank 0 writes ``summary.json``)."""
        return dict(values)

    def close(self) -> None:
        pass
