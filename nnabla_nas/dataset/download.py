"""Fetching a dataset archive: atomic download, checksum before use, safe extraction."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import List, Union

from ..utils.files import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 20  # bytes read at a time


def _md5():
    # MD5 only identifies the file here; FIPS builds refuse it unless told so (3.9+).
    if sys.version_info >= (3, 9):
        return hashlib.md5(usedforsecurity=False)
    return hashlib.md5()


def file_md5(path: PathLike) -> str:
    """The hexadecimal MD5 digest of the file at ``path``."""
    digest = _md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, md5: str, dest: PathLike, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, which only ever appears complete and verified.

    The bytes go to a temporary file next to ``dest``, whose MD5 is checked before it is
    renamed to ``dest``; on any failure the temporary file is removed.

    Args:
        url: What to download (``urllib`` schemes: https, http, file, ...).
        md5: The expected hexadecimal MD5 digest.
        dest: Where the file goes; its folder is created.
        timeout: Seconds to wait for the server.

    Raises:
        ValueError: if the checksum differs (nothing is left behind).
        OSError: if the download fails.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(str(dest), ".part") as tmp:
        digest = _md5()
        with open(tmp, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
            except urllib.error.URLError as err:
                raise OSError(f"{url}: download failed ({err.reason})") from err
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != md5.lower():
            raise ValueError(f"{url}: checksum mismatch, expected MD5 {md5}, got "
                             f"{digest.hexdigest()}; the download was discarded")
    return dest


def _check_member(archive: Path, member: tarfile.TarInfo) -> PurePosixPath:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: the path "
                         "leaves the destination folder")
    if member.isfile() and not path.parts:
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: a file "
                         "without a name")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: only regular "
                         "files and folders are allowed (no links or devices)")
    return path


def _extract_checked(archive: Path, tar: tarfile.TarFile, staging: Path) -> None:
    members = [(m, _check_member(archive, m)) for m in tar.getmembers()]
    for member, path in members:  # all checked before the first is written
        target = staging.joinpath(*path.parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tar.extractfile(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)


def extract_tar(archive: PathLike, root: PathLike) -> List[Path]:
    """Extract the tar archive ``archive`` (any compression) under ``root``, safely.

    Every member is checked before anything is written: absolute paths, ``..``
    components, links and devices are refused. Files are extracted to a temporary
    folder in ``root`` and then each is renamed into place, so a file under ``root`` is
    either absent or complete.

    Returns:
        The extracted files.

    Raises:
        ValueError: naming the archive and the member, for an unsafe member or a file
            that is not a tar archive.
    """
    archive, root = Path(archive), Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.TarError as err:
        raise ValueError(f"{archive}: not a tar archive ({err})") from None
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".extract-"))
    try:
        with tar:
            try:
                _extract_checked(archive, tar, staging)
            except (tarfile.TarError, EOFError) as err:
                raise ValueError(f"{archive}: damaged tar archive ({err})") from None
        extracted = []
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            final = root / path.relative_to(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            extracted.append(final)
        return extracted
    finally:
        shutil.rmtree(staging, ignore_errors=True)
