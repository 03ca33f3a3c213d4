"""stepgraph: steps at once in forked children, each one's output shown whole and in step order.

Each test runs a small script in a fresh interpreter (forking pytest's own process, with its threads, is not what
the demo does), whose steps are Python functions named by the step's first argument."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = '''
import os, sys, time, signal
from pathlib import Path
from evalharness.cli.stepgraph import Step, replay, run_graph

DIR = Path(sys.argv[1])

def wait_for(name):
    for _ in range(600):
        if (DIR / name).exists():
            return
        time.sleep(0.05)
    raise SystemExit(f"{name} never appeared")

def slow(step):  # ends only once `quick` has run: both run at once, or this never ends
    wait_for("quick-ran")
    print("a1"); print("a2", file=sys.stderr); print("a3")
    return 0

def quick(step):
    (DIR / "quick-ran").touch()
    print("b")
    return 0

def echo(step):
    print(step.args[1])
    return int(step.args[2]) if len(step.args) > 2 else 0

def failer(step):
    (DIR / "pid-failer").write_text(str(os.getpid()))
    print("x")
    return 2

def laggard(step):  # ends only after the parent has reaped `failer`, so it knows of the failure by then
    wait_for("pid-failer")
    pid = int((DIR / "pid-failer").read_text())
    for _ in range(600):
        try:
            os.kill(pid, 0)  # a zombie not yet reaped still answers
        except ProcessLookupError:
            break
        time.sleep(0.05)
    print("b")
    return 0

def tty(step):
    print(f"out tty {sys.stdout.isatty()} err tty {sys.stderr.isatty()}")
    return 0

def crash(step):
    os._exit(3)

def killed(step):
    os.kill(os.getpid(), signal.SIGKILL)

def bug(step):
    raise ValueError("a bug in a step")

def leaves(step):
    sys.exit(int(step.args[1]) if step.args[1].isdigit() else step.args[1])

def sleeper(step):
    count = DIR / f"sigint-{step.args[1]}"
    heeds = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # what the step found (asyncio asks so too)
    def on_int(signum, frame):
        with count.open("a") as fh:
            fh.write("x")
        if heeds:
            raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_int)
    (DIR / f"sleeping-{step.args[1]}").touch()
    time.sleep(60)
    return 0

STEPS = {
    "order": [Step(("slow",)), Step(("quick",)), Step(("echo", "c"), after=(0,))],
    "fail": [Step(("failer",)), Step(("laggard",)), Step(("echo", "never"), after=(0,)), Step(("echo", "late"))],
    "tty": [Step(("tty",)), Step(("tty",))],
    "crash": [Step(("crash",)), Step(("killed",)), Step(("bug",)), Step(("leaves", "4")), Step(("leaves", "why"))],
    "ctrl-c": [Step(("sleeper", "1")), Step(("sleeper", "2")), Step(("echo", "never"), after=(0, 1))],
}[sys.argv[2]]
slots = int(sys.argv[3])

def show(i, ended):
    print(f"[{i}] exit {ended.code}", flush=True)
    replay(ended.chunks)

code = run_graph(STEPS, lambda step: globals()[step.args[0]](step), slots, lambda i, code: code == 0, show)
print(f"graph exit {code}", flush=True)
'''


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "graph.py"
    path.write_text(SCRIPT)
    return path


def _run(tmp_path: Path, plan: str, slots: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_script(tmp_path)), str(tmp_path), plan, str(slots)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)


def test_steps_run_at_once_and_each_output_is_shown_whole_in_step_order(tmp_path: Path) -> None:
    done = _run(tmp_path, "order", 2)
    # `slow` waits for `quick`, which ends first; `c` waits for `slow`. stdout and stderr keep their interleaving.
    assert done.stdout == "[0] exit 0\na1\na2\na3\n[1] exit 0\nb\n[2] exit 0\nc\ngraph exit 0\n", done.stdout


def test_after_a_failure_nothing_new_starts_and_steps_under_way_are_shown(tmp_path: Path) -> None:
    done = _run(tmp_path, "fail", 2)  # `laggard` was under way when `failer` failed: it ends and is shown; `late` never starts
    assert done.stdout == "[0] exit 2\nx\n[1] exit 0\nb\ngraph exit 2\n", done.stdout
    (tmp_path / "one").mkdir()
    one = _run(tmp_path / "one", "fail", 1)
    assert one.stdout == "[0] exit 2\nx\ngraph exit 2\n", one.stdout  # one slot: nothing else ever started


def test_a_step_may_only_wait_for_earlier_steps() -> None:
    from evalharness.cli.stepgraph import Step, run_graph

    with pytest.raises(ValueError, match="earlier steps"):
        run_graph([Step(("a",), after=(1,)), Step(("b",))], lambda step: 0, 2, lambda i, code: True, lambda i, e: None)


def test_a_step_sees_terminals_where_the_parent_has_them(tmp_path: Path) -> None:
    piped = _run(tmp_path, "tty", 2)
    assert piped.stdout.count("out tty False err tty False") == 2, piped.stdout
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path)), str(tmp_path), "tty", "2"], stdout=child,
                            stderr=subprocess.PIPE, text=True)
    os.close(child)
    seen = b""
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not data:
            break
        seen += data
    proc.wait(timeout=60)
    os.close(main)
    assert seen.decode().count("out tty True err tty False") == 2, seen


def test_a_step_that_dies_or_raises_is_reported_not_lost(tmp_path: Path) -> None:
    done = _run(tmp_path, "crash", 5)  # all five start at once
    out = done.stdout
    assert "[0] exit 3\nerror: the step exited 3 before it could report\n" in out, out
    assert f"[1] exit 1\nerror: the step ended by signal {signal.SIGKILL.value} before it could report\n" in out, out
    assert "[2] exit 1\nTraceback" in out and "ValueError: a bug in a step" in out, out
    assert "[3] exit 4\n[4] exit 1\nwhy\n" in out, out  # sys.exit in a step: its code, or its message and 1
    assert out.endswith("graph exit 3\n")


@pytest.mark.parametrize("how, sigint", [(signal.SIGINT, "signal.default_int_handler"),
                                         (signal.SIGTERM, "signal.default_int_handler"),
                                         (signal.SIGTERM, "signal.SIG_IGN")])
def test_ctrl_c_reaches_each_step_once_and_the_graph_ends_with_130(tmp_path: Path, how: signal.Signals,
                                                                   sigint: str) -> None:
    # SIGINT set explicitly: as an interactive shell leaves it, or ignored, as a job started with `&` without job
    # control inherits it (Python keeps it so). SIGTERM is handled as `evalharness` (main.py) handles it; with SIGINT
    # ignored the steps still get (and heed) the SIGINT the graph passes on.
    proc = subprocess.Popen([sys.executable, "-c", "import signal, runpy, sys; "
                             f"signal.signal(signal.SIGINT, {sigint}); "
                             "from evalharness.cli.main import _on_sigterm; "
                             "signal.signal(signal.SIGTERM, _on_sigterm); "
                             "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                             str(_script(tmp_path)), str(tmp_path), "ctrl-c", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"sleeping-{n}").exists() for n in "12"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(how)  # to the parent only, as a terminal's Ctrl-C is: the steps are in process groups of their own
    out, _ = proc.communicate(timeout=60)
    assert out.endswith("graph exit 130\n"), out
    assert "[0] exit 130" in out and "[1] exit 130" in out and "never" not in out, out
    assert [(tmp_path / f"sigint-{n}").read_text() for n in "12"] == ["x", "x"]  # one Ctrl-C each
