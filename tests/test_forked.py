"""Forked workers (evalharness.runtime.forked): the same results as one process, errors raised in the parent, no fork while
another thread runs. The forking checks run in a fresh interpreter: a pytest worker may hold threads of earlier
tests, and then map_steps rightly stays in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from evalharness.runtime.forked import map_steps, usable_workers

FORKS = """
import json, os
from evalharness.errors import EvalHarnessError
from evalharness.runtime.forked import map_steps, usable_workers

loaded = {i: i * i for i in range(1000)}  # inherited by the workers, never pickled
results = map_steps(lambda i: (i, os.getpid(), sum(v for k, v in loaded.items() if k % 3 == i)), 3, workers=2)
closed = []

def failing(i):
    if i == 1:
        raise EvalHarnessError("check 'x' failed on query 'q1'")
    return i

try:
    map_steps(failing, 2, workers=2, before_fork=lambda: closed.append(True))
    error = None
except EvalHarnessError as exc:
    error = str(exc)
print(json.dumps({"usable": usable_workers(2), "pid": os.getpid(), "results": results, "error": error, "closed": closed}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="needs fork and two usable cores")
def test_steps_run_in_forked_workers_in_order_and_a_workers_error_is_raised_in_the_parent() -> None:
    done = subprocess.run([sys.executable, "-c", FORKS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["usable"] == 2
    loaded = {i: i * i for i in range(1000)}
    assert [r[0] for r in out["results"]] == [0, 1, 2]
    assert [r[2] for r in out["results"]] == [sum(v for k, v in loaded.items() if k % 3 == i) for i in range(3)]
    assert out["results"][0][1] == out["pid"] and all(r[1] != out["pid"] for r in out["results"][1:])  # really forked
    assert out["error"] == "check 'x' failed on query 'q1'" and out["closed"] == [True]


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert usable_workers(2) == 1
        assert [r[1] for r in map_steps(lambda i: (i, os.getpid()), 2, workers=2)] == [os.getpid()] * 2
    finally:
        stop.set()
        thread.join()
    assert usable_workers(1) == 1
