"""Run a list of command steps at once where their dependencies allow, each in a forked child, and show each step's
output in step order, as if they had run one after the other.

A step starts once every step it reads from (`Step.after`) has ended well, and while fewer than `slots` steps run.
Each child records what it writes to stdout and stderr, in order, with the streams answering `isatty()` as the
parent's do (so rich renders as it would have on them); the parent writes a step's record out once every earlier
step's has been. Children run in their own process group: Ctrl-C (or SIGTERM) reaches the parent, which passes one
SIGINT to each running step, so each ends as an interrupted command does, and waits for them.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from evalharness.errors import EXIT_INTERRUPTED

Chunks = list[tuple[str, str]]  # (stream name, text), in the order written
_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


@dataclass(frozen=True)
class Step:
    """One command's arguments and the indices of the earlier steps it waits for (their results are its input)."""

    args: tuple[str, ...]
    after: tuple[int, ...] = ()


@dataclass
class Ended:
    """What a step left: its exit code and its recorded output."""

    code: int
    chunks: Chunks


class _Recorder(io.TextIOBase):
    """A text stream that appends what is written to a shared record, and is a terminal when the one it stands for is."""

    def __init__(self, name: str, record: list[tuple[str, list[str]]], like: IO[str]) -> None:
        self._name, self._record = name, record
        self._tty = bool(getattr(like, "isatty", lambda: False)())
        self._encoding = getattr(like, "encoding", None) or "utf-8"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def write(self, text: str) -> int:
        if text:
            if self._record and self._record[-1][0] == self._name:
                self._record[-1][1].append(text)
            else:
                self._record.append((self._name, [text]))
        return len(text)


def _joined(record: list[tuple[str, list[str]]]) -> Chunks:
    return [(name, "".join(pieces)) for name, pieces in record]


def replay(chunks: Chunks) -> None:
    """Write a recorded output to this process's stdout and stderr, in the order it was written."""
    for name, text in chunks:
        stream = sys.stdout if name == "stdout" else sys.stderr
        stream.write(text)
        stream.flush()


def _child(run: Callable[[Step], int], step: Step, result: IO[bytes], mask: set[signal.Signals]) -> None:
    """In the forked child: run the step with its output recorded, write (code, record) to `result`, exit."""
    code, record = 1, []  # (stream name, pieces written one after the other)
    try:
        os.setpgid(0, 0)  # the terminal's Ctrl-C reaches the parent only; it passes one SIGINT on
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # inherited (a job started with `&`): here only the
            signal.signal(signal.SIGINT, signal.default_int_handler)  # parent sends SIGINT, when it means to stop
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        sys.stdout = _Recorder("stdout", record, sys.stdout)
        sys.stderr = _Recorder("stderr", record, sys.stderr)
        code = run(step)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except SystemExit as exc:  # as the interpreter ends on it: an int is the code, other values are printed, 1
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            record.append(("stderr", [f"{exc.code}\n"]))
            code = 1
    except BaseException:  # noqa: BLE001 - a bug: shown with its traceback in the step's output, never lost
        record.append(("stderr", [traceback.format_exc()]))
        code = 1
    finally:
        try:
            pickle.dump(Ended(code, _joined(record)), result)
            result.flush()
        finally:
            os._exit(code & 0xFF)


class _Running:
    """The children under way: pid -> (step index, result file)."""

    def __init__(self) -> None:
        self.by_pid: dict[int, tuple[int, IO[bytes]]] = {}

    def start(self, index: int, step: Step, run: Callable[[Step], int]) -> None:
        """Fork a child for the step. Ctrl-C and SIGTERM wait (blocked) until the child is known here, so that an
        interrupt always reaches every child."""
        result = tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
        try:
            pid = os.fork()
            if pid == 0:
                _child(run, step, result, blocked)
            try:
                os.setpgid(pid, pid)  # also here, so a Ctrl-C right after the fork cannot reach the child first
            except OSError:  # it has already done so, or already ended
                pass
            self.by_pid[pid] = (index, result)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def wait_one(self) -> tuple[int, Ended]:
        """Block until a step ends: its index and what it left."""
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid in self.by_pid:
                index, result = self.by_pid.pop(pid)
                return index, _ended(result, status)

    def interrupt(self) -> None:
        for pid in self.by_pid:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass


def _ended(result: IO[bytes], status: int) -> Ended:
    with result:
        result.seek(0)
        try:
            ended = pickle.load(result)
        except (EOFError, pickle.UnpicklingError):
            ended = None  # the child ended before its report was whole
    if isinstance(ended, Ended):
        return ended
    code = os.waitstatus_to_exitcode(status)
    why = f"ended by signal {-code}" if code < 0 else f"exited {code}"
    return Ended(code if code > 0 else 1, [("stderr", f"error: the step {why} before it could report\n")])


def run_graph(steps: Sequence[Step], run: Callable[[Step], int], slots: int, passes: Callable[[int, int], bool],
              show: Callable[[int, Ended], None], meanwhile: Callable[[], None] | None = None) -> int:
    """Run the steps, at most `slots` at once, each in a forked child. `passes(i, code)` says whether step i's exit
    lets the steps reading its results start; `show(i, ended)` writes step i's output, called in step order;
    `meanwhile()` runs here once, while the first steps run (to load what later steps will inherit).

    Once a step fails nothing new starts; the steps under way end on their own and are shown too, in order (they ran).
    Returns the exit code of the first failed step in step order, 0 when none failed, 130 when interrupted (each step
    under way was passed one Ctrl-C and has ended)."""
    for i, step in enumerate(steps):
        if any(not 0 <= d < i for d in step.after):
            raise ValueError(f"step {i} may only wait for earlier steps, not {step.after}")
    running, ended = _Running(), {}
    started: set[int] = set()
    shown, failed = 0, False
    try:
        while True:
            for i, step in enumerate(steps):
                if failed or len(running.by_pid) >= max(1, slots):
                    break
                if i not in started and all(d in ended and passes(d, ended[d].code) for d in step.after):
                    started.add(i)
                    running.start(i, step, run)
            if meanwhile is not None:
                meanwhile, later = None, meanwhile
                later()
            while shown in ended:
                show(shown, ended[shown])
                shown += 1
            if not running.by_pid:
                break  # every step started has ended; what never started waits on a failed step
            index, ended[index] = running.wait_one()
            failed = failed or not passes(index, ended[index].code)
    except KeyboardInterrupt:
        running.interrupt()
        while running.by_pid:
            index, ended[index] = _wait_uninterrupted(running)
        for i in sorted(i for i in ended if i >= shown):
            show(i, ended[i])
        return EXIT_INTERRUPTED
    for i in sorted(i for i in ended if i >= shown):
        show(i, ended[i])
    return next((ended[i].code for i in sorted(ended) if not passes(i, ended[i].code)), 0)


def _wait_uninterrupted(running: _Running) -> tuple[int, Ended]:
    """wait_one, passing a further Ctrl-C on to the steps while they end."""
    while True:
        try:
            return running.wait_one()
        except KeyboardInterrupt:
            running.interrupt()
