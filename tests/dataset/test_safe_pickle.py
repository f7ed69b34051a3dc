"""safe_pickle: numpy arrays and plain data load; any other global is refused before it
is imported or called."""
import io
import pickle

import numpy as np
import pytest

from nnabla_nas.dataset import safe_pickle
from nnabla_nas.dataset.safe_pickle import UnsafePickleError

from .cifar_files import Py2Pickler, batch_dict


class OpensAFile:
    """A payload that needs no shell: unpickling calls open(marker, "w")."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def py2_dumps(obj):
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue()


@pytest.mark.parametrize("dumps", [
    lambda o: pickle.dumps(o, protocol=2),
    lambda o: pickle.dumps(o, protocol=4),
    py2_dumps,
], ids=["protocol2", "protocol4", "python2"])
def test_numpy_batches_load_unchanged(dumps):
    data = np.arange(2 * 3072).reshape(2, 3072).astype(np.uint8)
    loaded = safe_pickle.loads(dumps(batch_dict(data, [3, 7])))
    assert np.array_equal(loaded[b"data"], data) and loaded[b"data"].dtype == np.uint8
    assert loaded[b"labels"] == [3, 7] and loaded[b"filenames"][1] == b"img_1.png"


def test_the_payload_is_live_yet_refused(tmp_path):
    live, refused = tmp_path / "live", tmp_path / "refused"
    pickle.loads(pickle.dumps(OpensAFile(live))).close()  # plain pickle runs it
    assert live.exists()
    with pytest.raises(UnsafePickleError, match=r"^batch: refusing to load "
                                                r"'(io|builtins)\.open'.*allowed: "):
        safe_pickle.loads(pickle.dumps([OpensAFile(refused)]), "batch")
    assert not refused.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"cos\nsystem\n(S'true'\ntR.",
    b"cnumpy\nload\n(S'x'\ntR.",
    b"cnumpy.core.multiarray\nscalar\n(tR.",
])
def test_other_globals_are_refused(payload):
    with pytest.raises(UnsafePickleError, match="^f: refusing to load"):
        safe_pickle.loads(payload, "f")


def test_codecs_encode_only_with_latin1():
    ok = pickle.dumps(b"\x00\xff", protocol=2)  # _codecs.encode('\x00\xff', 'latin1')
    assert safe_pickle.loads(ok) == b"\x00\xff"
    other = b"c_codecs\nencode\n(X\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13tR."
    with pytest.raises(UnsafePickleError, match="^f: _codecs.encode is only allowed "
                                                "with 'latin1', got encoding 'rot13'"):
        safe_pickle.loads(other, "f")


@pytest.mark.parametrize("data", [b"", b"\x80\x02}q\x00(", b"garbage"])
def test_broken_pickles_are_value_errors_naming_the_source(data):
    with pytest.raises(ValueError, match="^f: not a valid pickle"):
        safe_pickle.loads(data, "f")
