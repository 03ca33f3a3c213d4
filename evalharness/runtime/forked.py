"""Run independent CPU-bound steps on several cores: forked workers that inherit what the parent already loaded.

A comparison scores each compared run separately (reading its hits, per-hit measures, rule checks), so on a machine
with two cores the candidate is scored in a forked worker while the parent scores the baseline. The worker inherits
the parent's memory (judgment pool, guidelines, lists) without pickling it; only each step's result is sent back.
Forking needs a parent without other threads (else the steps run here, one after the other) and without open
database connections (`before_fork` closes them). The results are the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
_STEP: Callable[[int], Any] | None = None  # the step forked workers run (inherited, never pickled)


def _run_step(index: int) -> Any:
    assert _STEP is not None
    return _STEP(index)


def usable_workers(requested: int) -> int:
    """Workers to use: at most the cores this process may run on; 1 where fork does not exist or while another thread
    runs (a lock it holds would stay held forever in the forked copy)."""
    if requested <= 1 or not hasattr(os, "fork") or "fork" not in multiprocessing.get_all_start_methods() \
            or threading.active_count() > 1:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(requested, cores))


def map_steps(step: Callable[[int], T], n: int, workers: int = 1, before_fork: Callable[[], None] | None = None) -> list[T]:
    """[step(0), ..., step(n - 1)]: step 0 in this process, the others in up to `workers - 1` forked workers at once.

    An error in a worker is raised here as it was raised there (after every started step ends)."""
    workers = min(usable_workers(workers), n)
    if workers <= 1:
        return [step(i) for i in range(n)]
    global _STEP
    if before_fork is not None:
        before_fork()
    _STEP = step
    try:
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_step, i) for i in range(1, n)]
            first = step(0)
            return [first, *(f.result() for f in futures)]
    finally:
        _STEP = None
