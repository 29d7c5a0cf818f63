"""Progress on long work: a bar on a terminal, a few plain lines when output goes to a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Reports stages ("parsing 12/80 files"). Quiet when `enabled` is False."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.is_tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._bar: tqdm | None = None
        self._stage = ""
        self._unit = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._last_line = 0.0

    def start(self, stage: str, total: int, unit: str) -> None:
        self.finish()
        self._stage, self._unit, self._total, self._done = stage, unit, total, 0
        self._started = self._last_line = time.monotonic()
        if not self.enabled or total == 0:
            return
        if self.is_tty:
            self._bar = tqdm(total=total, desc=stage, unit=unit.removesuffix("s"), file=self.stream)

    def advance(self, count: int = 1) -> None:
        self._done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self.enabled and self._total and time.monotonic() - self._last_line >= 10:
            self._line(f"{self._stage}: {self._done}/{self._total} {self._unit}")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self._total and self._stage:
            seconds = time.monotonic() - self._started
            self._line(f"{self._stage}: {self._done}/{self._total} {self._unit} in {seconds:.1f} s")
        self._stage, self._total = "", 0

    def note(self, text: str) -> None:
        """A one-off line about work that has no count ("loading the embedding model")."""
        self.finish()
        if self.enabled:
            self._line(text)

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        print(text, file=self.stream, flush=True)
