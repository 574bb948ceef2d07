"""Long calls release the GIL and stop at Ctrl-C."""

import os
import signal
import threading
import time

import pytest

import rsmi


def test_gil_is_released_during_work():
    ticks = 0
    stop = False

    def count():
        nonlocal ticks
        while not stop:
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    t0 = time.perf_counter()
    rsmi.sample_ising2d(32, rsmi.T_C, 2000, threads=1, burn_in=2000)
    elapsed = time.perf_counter() - t0
    stop = True
    t.join()
    # The counter thread ran during the call (at most ~1000 ticks a second).
    assert elapsed > 0.1 and ticks > 20 * elapsed, (ticks, elapsed)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_ctrl_c_raises_keyboard_interrupt_promptly():
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        # Several seconds of work with one thread; interrupted after 0.3 s.
        rsmi.sample_ising2d(64, rsmi.T_C, 4000, threads=1, burn_in=20000,
                            algorithm="metropolis")
    assert time.perf_counter() - t0 < 2.0
    timer.cancel()
