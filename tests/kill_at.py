"""Run the ingest CLI and SIGKILL it at the n-th file-system event under the index folder.

Python raises an audit event for every open, rename, mkdir, rmtree and SQLite connection; this
wrapper counts those that touch SOURCED_INDEX_DIR and kills the process on entry to event
number KILL_AT_EVENT (0: never). KILL_EVENT_LOG, when set, gets one line per counted event, so
a first run maps the write path and later runs kill at each step of it. Used by test_kill.py:

    python tests/kill_at.py FOLDER --index NAME
"""

import os
import runpy
import signal
import sys

EVENTS = ("open", "os.rename", "os.mkdir", "os.remove", "shutil.rmtree", "sqlite3.connect")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _is_write(event: str, args: tuple) -> bool:
    if event != "open":
        return True
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(isinstance(flags, int) and flags & WRITE_FLAGS)


def main() -> None:
    root = os.path.realpath(os.environ["SOURCED_INDEX_DIR"])
    kill_at = int(os.environ.get("KILL_AT_EVENT", "0"))
    log = os.environ.get("KILL_EVENT_LOG")
    count = 0

    def hook(event: str, args: tuple) -> None:
        nonlocal count
        if event not in EVENTS or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(args[0]))
        if not path.startswith(root + os.sep) or not _is_write(event, args):
            return
        count += 1
        if log:  # this open is outside the index folder, so the hook ignores it
            with open(log, "a") as handle:
                handle.write(f"{count} {event} {os.path.relpath(path, root)}\n")
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    sys.argv = ["ingest", *sys.argv[1:]]
    runpy.run_module("ingest", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
