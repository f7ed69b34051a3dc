"""Every dataset test must leave no thread behind (loaders prefetch in threads)."""
import gc
import threading

import pytest


@pytest.fixture(autouse=True)
def no_thread_is_left_running():
    before = set(threading.enumerate())
    yield
    gc.collect()  # a loader that is garbage stops its thread
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"
