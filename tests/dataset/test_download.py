"""fetch and extract_tar: verified atomic downloads, and archives that cannot write
outside their folder."""
import hashlib
import re
import tarfile

import pytest

from nnabla_nas.dataset.download import extract_tar, fetch, file_md5

from .cifar_files import add_member


def test_fetch_verifies_then_renames(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload" * 1000)
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    dest = fetch(source.as_uri(), md5, tmp_path / "out" / "file.bin")
    assert dest.read_bytes() == source.read_bytes() and file_md5(dest) == md5
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


def test_fetch_with_a_wrong_checksum_leaves_nothing(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch(source.as_uri(), "0" * 32, tmp_path / "out" / "file.bin")
    assert list((tmp_path / "out").iterdir()) == []


def test_fetch_of_a_missing_url_is_an_os_error_naming_it(tmp_path):
    url = (tmp_path / "missing.tar.gz").as_uri()
    with pytest.raises(OSError, match=f"^{re.escape(url)}: download failed"):
        fetch(url, "0" * 32, tmp_path / "out" / "file.bin")
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_writes_files_and_folders(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_member(tar, "top", kind=tarfile.DIRTYPE)
        add_member(tar, "top/a.bin", b"aaa")
        add_member(tar, "./top/sub/b.bin", b"bb")
    files = extract_tar(archive, tmp_path / "root")
    root = tmp_path / "root"
    assert sorted(files) == [root / "top" / "a.bin", root / "top" / "sub" / "b.bin"]
    assert (root / "top" / "sub" / "b.bin").read_bytes() == b"bb"
    assert sorted(p.name for p in root.iterdir()) == ["top"]  # no staging folder left


@pytest.mark.parametrize("name, kind, linkname, message", [
    ("../evil", tarfile.REGTYPE, "", "the path leaves the destination folder"),
    ("top/../../evil", tarfile.REGTYPE, "", "the path leaves the destination folder"),
    ("/tmp/evil", tarfile.REGTYPE, "", "the path leaves the destination folder"),
    ("top/link", tarfile.SYMTYPE, "/etc/passwd", "only regular files and folders"),
    ("top/hard", tarfile.LNKTYPE, "top/a.bin", "only regular files and folders"),
])
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path, name, kind,
                                                                linkname, message):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        add_member(tar, "top/a.bin", b"first, harmless")
        add_member(tar, name, kind=kind, linkname=linkname)
    root = tmp_path / "deep" / "root"
    expected = f"^{re.escape(str(archive))}: refusing to extract '.*': {message}"
    with pytest.raises(ValueError, match=expected):
        extract_tar(archive, root)
    assert list(root.iterdir()) == []
    assert not (tmp_path / "deep" / "evil").exists()


def test_not_a_tar_archive(tmp_path):
    archive = tmp_path / "plain.tar.gz"
    archive.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="not a tar archive"):
        extract_tar(archive, tmp_path / "root")
