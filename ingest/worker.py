"""Parsing in a child process, so that a parser that hangs or crashes costs one file, not the run.

The parent sends a path, the child answers with the loader's result; when no answer comes within
the time limit the child is killed, the file is reported as timed out, and a fresh child takes
over the next file.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.errors import LoadError, SkipFile
from ingest.loaders import ParseLimits, load_file
from ingest.units import LoadResult

# The child starts fresh (spawn): it must not inherit the parent's model threads or memory.
_CONTEXT = mp.get_context("spawn")
_START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ParseOutcome:
    result: LoadResult | None = None
    skipped: str | None = None  # reason the file is deliberately not indexed
    failed: str | None = None  # reason the file could not be parsed


class ParseWorker:
    def __init__(self, limits: ParseLimits, timeout_s: float):
        self.limits = limits
        self.timeout_s = timeout_s
        self._process: mp.Process | None = None
        self._conn: Connection | None = None

    def parse(self, path: Path) -> ParseOutcome:
        conn = self._ensure_started()
        conn.send(str(path))
        if not conn.poll(self.timeout_s):
            self.close()
            return ParseOutcome(failed=f"parser timed out after {self.timeout_s:g} s")
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process else None
            self.close()
            return ParseOutcome(failed=f"parser crashed (exit code {code})")
        if kind == "ok":
            return ParseOutcome(result=payload)
        if kind == "skip":
            return ParseOutcome(skipped=payload)
        return ParseOutcome(failed=payload)

    def close(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process = None
        self._conn = None

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _ensure_started(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self.close()
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, args=(child, self.limits), daemon=True)
        process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the parser process did not start")
        parent.recv()  # "ready": imports done, so the time limit covers parsing only
        self._process, self._conn = process, parent
        return parent


def _serve(conn: Connection, limits: ParseLimits) -> None:
    conn.send("ready")
    while True:
        try:
            path = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        conn.send(parse_here(Path(path), limits))


def parse_here(path: Path, limits: ParseLimits) -> tuple[str, object]:
    """Run the loader in this process; every exception becomes a one-line reason."""
    try:
        return "ok", load_file(path, limits)
    except SkipFile as exc:
        return "skip", exc.reason
    except LoadError as exc:
        return "fail", exc.reason
    except MemoryError:
        return "fail", "ran out of memory while parsing"
    except RecursionError:
        return "fail", "structure nested too deeply to parse"
    except PermissionError:
        return "fail", "permission denied"
    except OSError as exc:
        return "fail", f"cannot read the file: {exc.strerror or exc}"
    except Exception as exc:  # any parser bug must cost one file, never the run
        return "fail", f"{type(exc).__name__}: {exc}"
