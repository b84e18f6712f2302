import threading

from gateway.background import PeriodicWorker


def test_the_worker_keeps_going_after_an_error_and_stops_cleanly():
    calls = []
    done = threading.Event()

    def work() -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database hiccup")
        if len(calls) >= 4:
            done.set()
        return 0

    worker = PeriodicWorker("test-worker", work)
    worker.start(poll_seconds=0.01)
    assert done.wait(5)
    worker.stop()
    count = len(calls)
    assert count >= 4
    done.clear()
    assert not done.wait(0.1) and len(calls) == count  # stopped: no more calls
