"""Run the ingest CLI and SIGKILL it at the n-th file-system event under the index folder.

Python raises an audit event for every open, rename, mkdir, rmtree and SQLite connection; this
wrapper counts those that touch SOURCED_INDEX_DIR and kills the process on entry to event
number KILL_AT_EVENT (0: never). KILL_EVENT_LOG, when set, gets one line per counted event, so
a first run maps the write path and later runs kill at each step of it. Used by test_kill.py:

    python tests/kill_at.py FOLDER --index NAME

With --serve, runs are forked from one process that has made the heavy imports (torch,
sentence-transformers: seconds each time) once: each line on stdin is a JSON request
{"args": [...], "env": {...}, "stdout": PATH, "stderr": PATH}, and each line written back is
that run's exit status (negative: the signal that ended it).
"""

import json
import os
import runpy
import signal
import sys
import traceback

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


def serve() -> None:
    import sentence_transformers  # noqa: F401 - imported once, before any fork
    import torch  # noqa: F401

    import ingest.cli  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(_forked_run(request))
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(code, flush=True)


def _forked_run(request: dict) -> int:
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    os.environ.update(request["env"])
    sys.argv = ["kill_at.py", *request["args"]]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
