"""Keeping the server's memory flat under load.

Two things made a server with the default models grow from about 1.0 GB idle to 2.0 GB under
8 clients (bench/service_load.py):
- oneDNN (torch's CPU kernels) keeps a compiled kernel per input shape, up to 1,024 of them,
  each with its scratch memory, and a service embeds texts of every length.
  `bound_kernel_cache` keeps 16: peak 1.6 GB.
- glibc keeps what the request threads free in per-thread pools and seldom returns it.
  `HeapTrimmer` calls `malloc_trim` (a few milliseconds) from a background thread, at most once
  per interval and only after requests were served, so an idle server does nothing and no
  request waits for it: peak 1.4 GB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading

KERNEL_CACHE_CAPACITY = "16"


def bound_kernel_cache() -> None:
    """Cap oneDNN's kernel cache, unless the user set it. oneDNN reads the variable when it
    compiles its first kernel, so this must run before the models do any work."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", KERNEL_CACHE_CAPACITY)


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


class HeapTrimmer:
    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self.trims = 0
        self._trim = _malloc_trim() if interval_s > 0 else None
        self._served = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._trim is not None

    def served(self) -> None:
        """A request finished: its freed memory may be handed back."""
        self._served.set()

    def start(self) -> None:
        if self._trim is None or self._thread is not None:
            return
        self._stopping.clear()  # an app may be started again after a stop (tests do)
        self._trim(0)  # what loading the models freed goes back now, not after the first wait
        self.trims += 1
        self._thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._served.set()  # wake the thread so it sees the stop
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._served.wait()
            if self._stopping.wait(self.interval_s):  # let a burst of requests finish first
                return
            self._served.clear()
            self._trim(0)
            self.trims += 1


class TrimAfterRequests:
    """ASGI middleware: tells the trimmer when an HTTP request is done."""

    def __init__(self, app, trimmer: HeapTrimmer):
        self.app = app
        self.trimmer = trimmer

    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.trimmer.served()
