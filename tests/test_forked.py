"""Forked workers (evalharness.forked): the same results as one process, errors raised in the parent, no fork while
another thread runs."""

from __future__ import annotations

import os
import threading

import pytest

from evalharness.errors import EvalHarnessError
from evalharness.forked import map_steps, usable_workers

needs_two_cores = pytest.mark.skipif(usable_workers(2) < 2, reason="needs fork and two usable cores")


@needs_two_cores
def test_steps_run_in_forked_workers_and_return_in_order() -> None:
    loaded = {i: i * i for i in range(1000)}  # inherited by the workers, never pickled

    def step(i: int) -> tuple[int, int, int]:
        return i, os.getpid(), sum(v for k, v in loaded.items() if k % 3 == i)

    results = map_steps(step, 3, workers=2)
    assert [r[0] for r in results] == [0, 1, 2]
    assert [r[2] for r in results] == [sum(v for k, v in loaded.items() if k % 3 == i) for i in range(3)]
    assert results[0][1] == os.getpid() and {r[1] for r in results[1:]} != {os.getpid()}


@needs_two_cores
def test_an_error_in_a_worker_is_raised_in_the_parent() -> None:
    closed = []

    def step(i: int) -> int:
        if i == 1:
            raise EvalHarnessError("check 'x' failed on query 'q1'")
        return i

    with pytest.raises(EvalHarnessError, match="check 'x' failed on query 'q1'"):
        map_steps(step, 2, workers=2, before_fork=lambda: closed.append(True))
    assert closed == [True]


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
