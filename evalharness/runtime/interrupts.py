"""Hold Ctrl-C and SIGTERM back while a short write must finish whole.

A KeyboardInterrupt raised inside a database write rolls its transaction back (store/connect.py
`roll_back_on_interrupt`): a group of judgments already computed or paid for would be lost with it. Inside
`interrupts_deferred` an interrupt is noted instead, and delivered to the usual handler as soon as the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

DEFERRED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM arriving inside the block reach their handlers when it ends (also on an error), once each.

    Python runs signal handlers in the main thread only, so elsewhere there is nothing to hold back and the block
    runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        if signum not in arrived:
            arrived.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in DEFERRED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for sig in arrived:
            signal.raise_signal(sig)  # the restored handler runs now (a KeyboardInterrupt, or asyncio's own)
