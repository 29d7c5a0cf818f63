"""Parsing in a child process, so that a parser that hangs, spins, balloons or crashes costs one
file, not the run.

The parent sends a path, the child answers with the loader's result. The child runs under an
address-space limit (a parser that balloons gets a MemoryError) and a CPU-time limit per file (the
kernel stops a parser that spins); when no answer comes within the wall-clock limit the child is
killed. Either way the file is reported with its reason and a fresh child takes over the next file.
Each page read by OCR adds its own allowance to both limits: a scanned book is slow, not stuck.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.errors import LoadError, SkipFile
from ingest.loaders import ParseLimits, load_file, ocr
from ingest.units import LoadResult

# The child starts fresh (spawn): it must not inherit the parent's model threads or memory.
_CONTEXT = mp.get_context("spawn")
_START_TIMEOUT_S = 120.0


try:  # POSIX only; elsewhere the wall-clock limit is the one bound
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]


@dataclass(frozen=True)
class ParserResources:
    timeout_s: float = 120.0  # wall clock per file
    cpu_s: int = 60  # CPU time per file
    memory_mb: int = 2048  # address space of the child process
    ocr_page_s: float = 60.0  # wall clock and CPU time added for each page read by OCR


@dataclass(frozen=True)
class ParseOutcome:
    result: LoadResult | None = None
    skipped: str | None = None  # reason the file is deliberately not indexed
    failed: str | None = None  # reason the file could not be parsed


class ParseWorker:
    def __init__(self, limits: ParseLimits, resources: ParserResources | None = None):
        self.limits = limits
        self.resources = resources or ParserResources()
        self._process: mp.Process | None = None
        self._conn: Connection | None = None

    def parse(self, path: Path) -> ParseOutcome:
        conn = self._ensure_started()
        conn.send(str(path))
        allowed_s = self.resources.timeout_s
        deadline = time.monotonic() + allowed_s
        while True:
            if not conn.poll(max(deadline - time.monotonic(), 0)):
                self.close()
                return ParseOutcome(failed=f"parser timed out after {allowed_s:g} s")
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                reason = self._death_reason()
                self.close()
                return ParseOutcome(failed=reason)
            if kind != "more":
                break
            deadline += payload  # a page is being read by OCR
            allowed_s += payload
        if kind == "ok":
            return ParseOutcome(result=payload)
        if kind == "skip":
            return ParseOutcome(skipped=payload)
        if kind == "oom":
            # The child's heap may be left fragmented: a fresh child takes the next file.
            self.close()
            limit = f"limit {self.resources.memory_mb} MB, SOURCED_PARSE_MEMORY_MB"
            return ParseOutcome(failed=f"{payload} ({limit})")
        return ParseOutcome(failed=payload)

    def _death_reason(self) -> str:
        process = self._process
        if process is not None:
            process.join(timeout=5)
        code = process.exitcode if process is not None else None
        if code is not None and code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
            # SIGXCPU at the soft CPU limit; SIGKILL if the parser ignored it up to the hard one.
            return (
                f"parser used more than {self.resources.cpu_s} s of CPU time (SOURCED_PARSE_CPU_S)"
            )
        if code is not None and code < 0:
            return f"parser crashed ({signal.Signals(-code).name})"
        return f"parser crashed (exit code {code})"

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
        process = _CONTEXT.Process(
            target=_serve, args=(child, self.limits, self.resources), daemon=True
        )
        with _child_environment():
            process.start()
        child.close()
        if not parent.poll(_START_TIMEOUT_S):
            process.kill()
            raise RuntimeError("the parser process did not start")
        parent.recv()  # "ready": imports done, so the time limit covers parsing only
        self._process, self._conn = process, parent
        return parent


@contextmanager
def _child_environment() -> Iterator[None]:
    """The child's environment: glibc's malloc at two arenas. With one arena per thread (the
    default), OCR's inference threads reserve about 2 GB of address space for 0.6 GB in use,
    which the address-space limit counts; with two, 1.45 GB."""
    if "MALLOC_ARENA_MAX" in os.environ:
        yield
        return
    os.environ["MALLOC_ARENA_MAX"] = "2"
    try:
        yield
    finally:
        os.environ.pop("MALLOC_ARENA_MAX", None)


def _serve(conn: Connection, limits: ParseLimits, resources: ParserResources) -> None:
    _limit_memory(resources.memory_mb)

    def allow_an_ocr_page() -> None:
        _extend_cpu(resources.ocr_page_s)
        conn.send(("more", resources.ocr_page_s))

    ocr.on_page = allow_an_ocr_page
    conn.send("ready")
    while True:
        try:
            path = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        _limit_cpu_for_next_file(resources.cpu_s)
        answer = parse_here(Path(path), limits)
        try:
            conn.send(answer)
        except MemoryError:  # the result itself was too large to hand over
            del answer
            conn.send(("oom", "parser ran out of memory"))


def _limit_memory(memory_mb: int) -> None:
    if resource is None:
        return
    limit = memory_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu_for_next_file(cpu_s: int) -> None:
    """RLIMIT_CPU counts the process's whole life, so each file gets what was used plus cpu_s."""
    if resource is None:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + cpu_s + 1
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _extend_cpu(seconds: float) -> None:
    if resource is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft == resource.RLIM_INFINITY:
        return
    soft += int(seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def parse_here(path: Path, limits: ParseLimits) -> tuple[str, object]:
    """Run the loader in this process; every exception becomes a one-line reason."""
    try:
        return "ok", load_file(path, limits)
    except SkipFile as exc:
        return "skip", exc.reason
    except LoadError as exc:
        return "fail", exc.reason
    except MemoryError:
        return "oom", "parser ran out of memory"
    except RecursionError:
        return "fail", "structure nested too deeply to parse"
    except PermissionError:
        return "fail", "permission denied"
    except OSError as exc:
        return "fail", f"cannot read the file: {exc.strerror or exc}"
    except Exception as exc:  # any parser bug must cost one file, never the run
        return "fail", f"{type(exc).__name__}: {exc}"
