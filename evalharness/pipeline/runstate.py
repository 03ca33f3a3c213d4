"""What a run's status says, and which process a running run belongs to.

A run ends `finished` only when every hit was judged; `partial` when some hits are unjudged (failed pairs,
budget skips); `failed` when hits were to be judged and none was; `interrupted` when Ctrl-C, SIGTERM or a
killed process ended it; `waiting` while its pairs are in a provider's batch service. Rows left `running` by a
process that no longer exists are marked `interrupted` by the next run on the same host."""

from __future__ import annotations

from evalharness.runtime.process import process_gone, this_process

__all__ = ["FINISHED", "PARTIAL", "FAILED", "INTERRUPTED", "RUNNING", "WAITING", "CLEAN_STATUSES", "final_status",
           "process_gone", "this_process"]

FINISHED, PARTIAL, FAILED, INTERRUPTED, RUNNING = "finished", "partial", "failed", "interrupted", "running"
WAITING = "waiting"  # submitted to a provider batch service; `evalharness batches collect` finishes it
CLEAN_STATUSES = (FINISHED,)


def final_status(hits_to_judge: int, judged: int) -> str:
    """The status of a run that ran to its end: `judged` of `hits_to_judge` hits got a label."""
    if judged >= hits_to_judge:
        return FINISHED
    return FAILED if judged == 0 else PARTIAL
