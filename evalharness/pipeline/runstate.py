"""What a run's status says, and which process a running run belongs to.

A run ends `finished` only when every hit was judged; `partial` when some hits are unjudged (failed pairs,
budget skips); `failed` when hits were to be judged and none was; `interrupted` when Ctrl-C, SIGTERM or a
killed process ended it; `waiting` while its pairs are in a provider's batch service. Rows left `running` by a
process that no longer exists are marked `interrupted` by the next run on the same host."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

FINISHED, PARTIAL, FAILED, INTERRUPTED, RUNNING = "finished", "partial", "failed", "interrupted", "running"
WAITING = "waiting"  # submitted to a provider batch service; `evalharness batches collect` finishes it
CLEAN_STATUSES = (FINISHED,)


def final_status(hits_to_judge: int, judged: int) -> str:
    """The status of a run that ran to its end: `judged` of `hits_to_judge` hits got a label."""
    if judged >= hits_to_judge:
        return FINISHED
    return FAILED if judged == 0 else PARTIAL


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields after the command name (state first), or None where /proc is absent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, to tell a reused pid from the original."""
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat; the list starts at field 3


def this_process() -> dict[str, Any]:
    """pid, host and start time of the current process, stored on the run."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "start": _start_time(pid)}


def process_gone(proc: dict[str, Any]) -> bool:
    """True when `proc` ran on this host and that process no longer exists (a reused pid counts as gone)."""
    pid = proc.get("pid")
    if proc.get("host") != socket.gethostname() or not isinstance(pid, int):
        return False  # another machine's run, or an old row without a process: never guess
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat(pid)
    if fields is None:
        return False
    recorded = proc.get("start")
    return fields[0] == "Z" or (recorded is not None and fields[19] != recorded)  # a zombie, or a reused pid
