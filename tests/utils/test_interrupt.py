"""graceful_interrupts: the first SIGINT or SIGTERM sets a flag, a second one stops at
once, and the handlers are scoped to the block."""
import os
import signal

import pytest

from nnabla_nas.utils.interrupt import Interrupted, graceful_interrupts, requested, \
    stop_if_requested


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_the_first_signal_sets_a_flag_and_the_second_stops_at_once(signum, status):
    before = signal.getsignal(signum)
    with graceful_interrupts():
        assert requested() is None
        os.kill(os.getpid(), signum)
        assert requested() == signum
        with pytest.raises(Interrupted, match="stopped at once by a second signal") as e:
            os.kill(os.getpid(), signum)
        assert e.value.exit_status == status
        with pytest.raises(Interrupted, match="after step 3") as e:
            stop_if_requested("after step 3")
    assert signal.getsignal(signum) is before
    assert requested() is None


def test_without_the_block_nothing_is_requested():
    assert requested() is None
    stop_if_requested("nowhere")  # does not raise
