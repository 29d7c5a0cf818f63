"""A bounded queue in front of the LLM: `concurrency` calls run, `waiting` more may wait their
turn, and past that a request is refused at once (503) instead of piling up threads and
minutes of latency behind a model that answers one question at a time."""

from __future__ import annotations

import threading

from app.errors import ServerBusy


class LLMQueue:
    def __init__(self, concurrency: int, waiting: int, retry_after_s: int = 10):
        self.concurrency = concurrency
        self.waiting = waiting
        self.retry_after_s = retry_after_s
        self._slots = threading.Semaphore(concurrency)
        self._lock = threading.Lock()
        self._admitted = 0  # running plus waiting

    @property
    def admitted(self) -> int:
        return self._admitted

    def admit(self) -> Turn:
        """A place in the queue, or ServerBusy when every place is taken. Enter the turn to
        wait for the model; leave it (or `release()` it unused) to give the place back."""
        with self._lock:
            if self._admitted >= self.concurrency + self.waiting:
                raise ServerBusy(
                    f"the language model is busy: {self.concurrency} answer(s) being written and "
                    f"{self.waiting} waiting; retry shortly (SOURCED_LLM_QUEUE_SIZE)",
                    retry_after_s=self.retry_after_s,
                )
            self._admitted += 1
        return Turn(self)

    def _leave(self, held: bool) -> None:
        if held:
            self._slots.release()
        with self._lock:
            self._admitted -= 1


class Turn:
    def __init__(self, queue: LLMQueue):
        self._queue = queue
        self._held = False
        self._released = False

    def __enter__(self) -> Turn:
        self._queue._slots.acquire()
        self._held = True
        return self

    def __exit__(self, *_exc) -> None:
        self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._queue._leave(self._held)
