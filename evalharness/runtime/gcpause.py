"""Pause the cyclic garbage collector while a bulk step builds many objects that form no cycles.

Decoding a million stored rows makes the collector rescan every young object again and again (about a third
of the decode time); reference counting still frees these objects at once, so nothing is held longer.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (restored after it, also on an error)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
