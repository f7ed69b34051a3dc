"""The persistent profile table: function timings of one device, on disk.

A table is a JSON file (layout in :func:`.measure.table_text`) with a header (format
version, the device fingerprint, the timing statistic, the calibration coefficients),
the entries ``function key -> {"ms": .., "repeats": ..}`` and a sha256 checksum of
that content. It is written through a temporary file and a rename, merging what
another process saved meanwhile, so concurrent writers never leave a corrupt file
(the last writer wins for a key both measured).

A table made on another device, or a corrupt, truncated or edited one, is refused
with a :class:`ProfileTableError` naming the file; it is never used silently.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

from ...utils.cache import cache_folder
from ...utils.files import atomic_write_text, quote, read_json
from . import measure


#: Every field of a table file.
TABLE_FIELDS = ("format", "version", "statistic", "units", "fingerprint", "calibration",
                "checksum", "entries")


class ProfileTableError(ValueError):
    """A profile table file cannot be used: corrupt, or made for another device."""


def default_table_path(context: str = "cpu", device_id: int = 0,
                       type_config: str = "float",
                       statistic: str = measure.DEFAULT_STATISTIC,
                       runtime: str = "nnabla") -> str:
    """This device's persistent table in the user's cache folder
    (:func:`nnabla_nas.utils.cache.cache_folder`), one per runtime whose timings it
    holds, e.g.
    ``~/.cache/nnabla-nas/profile-tables/nnabla-cpu-0-float-lower_quartile.json``."""
    name = f"{runtime}-{context}-{int(device_id)}-{type_config}-{statistic}.json"
    return os.path.join(cache_folder(), "profile-tables", name)


#: The fields of a table's calibration: the coefficients, and how they were fitted.
CALIBRATION_FIELDS = measure.CALIBRATION_TERMS + ("networks", "rms_relative_error")


def _number(value: Any, integer: bool = False) -> bool:
    """A finite number >= 0 (an int >= 1 with ``integer``); never a boolean."""
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and value >= 1
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def _check_entries(path: str, entries: Any) -> Dict[str, Dict[str, Any]]:
    if not isinstance(entries, dict):
        raise ProfileTableError(f"{path}: 'entries' must be an object, "
                                f"got {type(entries).__name__}")
    for key, entry in entries.items():
        ok = (isinstance(entry, dict) and set(entry) == {"ms", "repeats"}
              and _number(entry["ms"]) and _number(entry["repeats"], integer=True))
        if not ok:
            raise ProfileTableError(f"{path}: entry {quote(key)}: expected "
                                    "{'ms': a finite number >= 0, 'repeats': an int >= 1}, "
                                    f"got {quote(entry)}")
    return entries


def _check_calibration(path: str, calibration: Any) -> Optional[Dict[str, Any]]:
    if calibration is None:
        return None
    ok = (isinstance(calibration, dict) and set(calibration) <= set(CALIBRATION_FIELDS)
          and all(k in calibration for k in measure.CALIBRATION_TERMS)
          and all(_number(v, integer=k == "networks") for k, v in calibration.items()))
    if not ok:
        raise ProfileTableError(f"{path}: 'calibration': expected finite numbers >= 0 "
                                f"{list(measure.CALIBRATION_TERMS)} (optionally "
                                f"{list(CALIBRATION_FIELDS[len(measure.CALIBRATION_TERMS):])}), got "
                                f"{quote(calibration)}")
    return calibration


def _check_header(path: str, data: dict) -> None:
    """The header fields: statistic, fingerprint, units, checksum."""
    if data["statistic"] not in measure.STATISTICS:
        raise ProfileTableError(f"{path}: 'statistic': expected one of "
                                f"{list(measure.STATISTICS)}, got "
                                f"{quote(data['statistic'])}")
    fingerprint = data["fingerprint"]
    if not isinstance(fingerprint, dict) or not all(
            isinstance(v, str) for v in fingerprint.values()):
        raise ProfileTableError(f"{path}: 'fingerprint': expected an object of strings, "
                                f"got {quote(fingerprint)}")
    if data.get("units", "ms") != "ms":
        raise ProfileTableError(f"{path}: 'units': expected 'ms', got "
                                f"{quote(data['units'])}")
    if not isinstance(data["checksum"], str):
        raise ProfileTableError(f"{path}: 'checksum': expected a string, got "
                                f"{quote(data['checksum'])}")
    unknown = sorted(set(data) - set(TABLE_FIELDS))
    if unknown:
        raise ProfileTableError(f"{path}: unknown fields {quote(unknown)}; expected "
                                f"only {list(TABLE_FIELDS)}")


def read_table_file(path: str) -> Dict[str, Any]:
    """The validated content of a table file (any device).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ProfileTableError: naming ``path`` if it is not valid JSON, not a profile table,
            of another format version, or its checksum does not match its content.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"profile table {path!r} does not exist")
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProfileTableError(
            f"{path}: not a valid profile table (corrupt or truncated JSON: {e}); "
            "delete it or pass another table path") from None
    if not isinstance(data, dict) or data.get("format") != measure.TABLE_FORMAT:
        raise ProfileTableError(f"{path}: not a profile table (expected \"format\": "
                                f"\"{measure.TABLE_FORMAT}\")")
    if data.get("version") != measure.TABLE_VERSION:
        raise ProfileTableError(f"{path}: table format version {data.get('version')!r}, "
                                f"this code reads version {measure.TABLE_VERSION}")
    missing = [k for k in ("fingerprint", "entries", "checksum", "statistic")
               if k not in data]
    if missing:
        raise ProfileTableError(f"{path}: missing keys {missing}")
    _check_header(path, data)
    entries = _check_entries(path, data["entries"])
    calibration = _check_calibration(path, data.get("calibration"))
    expected = measure.checksum(data["fingerprint"], calibration, entries)
    if data["checksum"] != expected:
        raise ProfileTableError(
            f"{path}: checksum mismatch (the file was edited or corrupted after it was "
            "written); delete it or pass another table path")
    return data


class ProfileTable:
    """Function timings (ms) of one device, optionally backed by a file.

    Args:
        fingerprint: The device the timings are for (see
            :func:`.measure.device_fingerprint`).
        path: The file to save to; None keeps the table in memory.
        statistic: How timings were summarized (one of :data:`.measure.STATISTICS`).
        entries: Initial ``key -> {'ms', 'repeats'}``.
        calibration: Initial calibration coefficients.
        read_only: Never write the file (imported tables of other devices).
    """

    def __init__(self, fingerprint: Dict[str, str], path: Optional[str] = None,
                 statistic: str = measure.DEFAULT_STATISTIC,
                 entries: Optional[Dict[str, Dict[str, Any]]] = None,
                 calibration: Optional[Dict[str, Any]] = None, read_only: bool = False):
        if statistic not in measure.STATISTICS:
            raise ValueError(f"statistic: expected one of {list(measure.STATISTICS)}, "
                             f"got {statistic!r}")
        self.fingerprint = dict(fingerprint)
        self.path = path
        self.statistic = statistic
        self.read_only = bool(read_only)
        self._entries: Dict[str, Dict[str, Any]] = dict(entries or {})
        self._calibration = calibration
        self._dirty = False
        self._held = 0
        #: What this table replaces in its file (another device's or a corrupt
        #: table): a message, or None when it extends the file.
        self.replaces: Optional[str] = None

    # ------------------------------------------------------------------ files
    @classmethod
    def load(cls, path: str, fingerprint: Optional[Dict[str, str]] = None,
             statistic: Optional[str] = None, read_only: bool = False) -> "ProfileTable":
        """Read a table file.

        Args:
            path: The file.
            fingerprint: This device; the file must have been made for it. None
                accepts any device (importing another device's table).
            statistic: If given, the file must use it.
            read_only: Never write back.

        Raises:
            ProfileTableError: naming the file, for a corrupt file or one made for
                another device or statistic.
        """
        data = read_table_file(path)
        if fingerprint is not None and data["fingerprint"] != fingerprint:
            differs = sorted(k for k in set(fingerprint) | set(data["fingerprint"])
                             if fingerprint.get(k) != data["fingerprint"].get(k))
            raise ProfileTableError(
                f"{path}: made for '{measure.describe_fingerprint(data['fingerprint'])}', "
                f"this device is '{measure.describe_fingerprint(fingerprint)}' (differs "
                f"in {', '.join(differs)}); delete it or pass another table path")
        if statistic is not None and data["statistic"] != statistic:
            raise ProfileTableError(
                f"{path}: timings summarized with '{data['statistic']}', this estimator "
                f"uses '{statistic}'; pass statistic='{data['statistic']}' or another "
                "table path")
        return cls(data["fingerprint"], path, data["statistic"], data["entries"],
                   data.get("calibration"), read_only)

    @classmethod
    def open(cls, path: str, fingerprint: Dict[str, str],
             statistic: str = measure.DEFAULT_STATISTIC) -> "ProfileTable":
        """This device's table at ``path``: loaded if the file exists (and checked, see
        :meth:`load`), else a new empty table that :meth:`save` will create."""
        if os.path.exists(path):
            return cls.load(path, fingerprint, statistic)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"profile table {path!r}: folder {folder!r} does "
                                    "not exist")
        return cls(fingerprint, path, statistic)

    @classmethod
    def open_cached(cls, path: str, fingerprint: Dict[str, str],
                    statistic: str = measure.DEFAULT_STATISTIC) -> "ProfileTable":
        """A device's table in the cache folder: as :meth:`open`, except that a file
        made on another device or NNabla version (or unreadable) is not used: the
        table starts empty and its first save replaces the file (:attr:`replaces`
        says why). The folder is created."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            return cls.open(path, fingerprint, statistic)
        except ProfileTableError as e:
            table = cls(fingerprint, path, statistic)
            table.replaces = str(e)
            return table

    @contextmanager
    def exclusive(self) -> Iterator["ProfileTable"]:
        """Within the block, this process alone among those using the same file holds
        it (an ``flock`` on ``<file>.lock``, waited for): so that two runs starting at
        once on a fresh device calibrate its table once, the second reading what the
        first stored (:meth:`reload_calibration`). Without a file or ``fcntl``, no
        lock."""
        try:
            import fcntl
        except ImportError:  # not POSIX
            fcntl = None
        if self.path is None or fcntl is None or self.read_only:
            yield self
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def reload_calibration(self) -> bool:
        """Take the calibration that another process stored in the file since this
        table was read, if any (never from a file this table replaces, or one of
        another device); whether the table is calibrated now."""
        if self._calibration is None and self.path is not None and \
                os.path.isfile(self.path) and not self.replaces:
            try:
                other = ProfileTable.load(self.path, self.fingerprint, self.statistic)
            except ProfileTableError:
                return False
            self._calibration = other._calibration
        return self._calibration is not None

    @contextmanager
    def held(self) -> Iterator["ProfileTable"]:
        """Within the block, nothing is written; afterwards the changes are saved
        together (if the table has a file). If the block raises (an interruption),
        the table and its file are left as they were before the block."""
        entries, calibration, dirty = dict(self._entries), self._calibration, self._dirty
        self._held += 1
        try:
            yield self
        except BaseException:
            self._entries, self._calibration, self._dirty = entries, calibration, dirty
            raise
        finally:
            self._held -= 1
        self.save_if_changed()

    def save(self, path: Optional[str] = None) -> None:
        """Write the table (atomically) to ``path`` or :attr:`path`, first merging the
        entries another process saved there meanwhile (ours win on common keys).

        Raises:
            ProfileTableError: if the file there is corrupt or from another device.
        """
        path = path or self.path
        if path is None:
            raise ValueError("ProfileTable.save: this table has no path; pass one")
        if self.read_only:
            raise ProfileTableError(f"{path}: this table was imported read-only")
        if os.path.exists(path) and not (self.replaces and path == self.path):
            other = ProfileTable.load(path, self.fingerprint, self.statistic)
            merged = dict(other._entries)
            merged.update(self._entries)
            self._entries = merged
            if self._calibration is None:
                self._calibration = other._calibration
        atomic_write_text(path, measure.table_text(self.fingerprint, self._calibration,
                                                   self._entries, self.statistic))
        self._dirty = False
        if path == self.path:
            self.replaces = None  # the file is ours now: later saves merge again

    def save_if_changed(self) -> None:
        """:meth:`save` to :attr:`path` if there is one and something changed."""
        if self._dirty and self.path is not None and not self.read_only \
                and not self._held:
            self.save()

    # ---------------------------------------------------------------- content
    def is_for(self, fingerprint: Dict[str, str]) -> bool:
        """Whether the table was made on the device of ``fingerprint``."""
        return self.fingerprint == fingerprint

    def get(self, key: str) -> Optional[float]:
        """The time of ``key`` in ms, or None."""
        entry = self._entries.get(key)
        return None if entry is None else float(entry["ms"])

    def entry(self, key: str) -> Dict[str, Any]:
        """The record of ``key``: ``{'ms': ..., 'repeats': ...}`` (a copy)."""
        return dict(self._entries[key])

    def put(self, key: str, ms: float, repeats: int) -> None:
        """Record that the function ``key`` takes ``ms`` (from ``repeats`` samples)."""
        if self.read_only:
            raise ProfileTableError(f"{self.path}: this table was imported read-only")
        self._entries[key] = {"ms": float(ms), "repeats": int(repeats)}
        self._dirty = True

    @property
    def calibration(self) -> Optional[Dict[str, Any]]:
        """The calibration coefficients ``a``, ``b``, ``c`` (see
        :func:`.measure.fit_calibration`), or None."""
        return self._calibration

    @calibration.setter
    def calibration(self, value: Optional[Dict[str, Any]]) -> None:
        if self.read_only:
            raise ProfileTableError(f"{self.path}: this table was imported read-only")
        self._calibration = _check_calibration(self.path or "calibration", value)
        self._dirty = True

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __repr__(self) -> str:
        where = self.path or "in memory"
        return (f"ProfileTable({len(self)} entries, {where}, "
                f"'{measure.describe_fingerprint(self.fingerprint)}', "
                f"calibrated={self._calibration is not None})")
