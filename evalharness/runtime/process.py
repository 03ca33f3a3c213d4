"""Which process this is (pid, host, start time), and whether a recorded process is known to be gone.

Runs and claims record their process; a record from this host whose process no longer exists (or whose pid was
reused) is known dead. A record from another host is never guessed about."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


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
