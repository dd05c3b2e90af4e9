"""`swarm-operator run`'s signal handling: the work a signal asks for is done by a thread
of its own, never inside the handler (cli/run.stop_on_signals).

A Python handler runs in the main thread between two of its bytecodes; the daemon's
handler used to log and set events there, and a SIGTERM that landed while the main thread
held the log's write lock deadlocked it (seen in CI: the daemon never exited).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from swarm_operator.cli.run import stop_on_signals


def test_a_signal_is_acted_on_off_the_main_thread_even_while_it_holds_a_lock() -> None:
    lock = threading.Lock()  # stands for the log's write lock: not re-entrant
    called: list[str] = []
    done = threading.Event()

    def stop() -> None:
        with lock:  # in the main thread, while the main thread holds it: a deadlock
            called.append(threading.current_thread().name)
        done.set()

    before = signal.getsignal(signal.SIGTERM)
    restore = stop_on_signals(stop)
    try:
        with lock:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs now, between bytecodes, the lock held
            assert called == []
        assert done.wait(10), "stop was never called"
        assert called == ["swarm-operator-signals"]
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_stops_too_and_other_signals_do_not() -> None:
    calls: list[int] = []
    done = threading.Event()

    def stop() -> None:
        calls.append(1)
        done.set()

    before = signal.getsignal(signal.SIGUSR1)
    signal.signal(signal.SIGUSR1, lambda *_: None)  # a handler, so its byte is written too
    restore = stop_on_signals(stop)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.2)
        assert calls == []
        os.kill(os.getpid(), signal.SIGINT)
        assert done.wait(10)
        assert calls == [1]
    finally:
        restore()
        signal.signal(signal.SIGUSR1, before)
