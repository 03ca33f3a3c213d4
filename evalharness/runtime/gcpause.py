"""Pause the cyclic garbage collector while a bulk step builds many objects that form no cycles.

Decoding a million stored rows makes the collector rescan every young object again and again (about a third
of the decode time); reference counting still frees these objects at once, so nothing is held longer. Importing a
command's modules is such a step too: classes, functions and tables that live to the end, and each young collection
rescans them (~0.04 s CPU of a cached `run`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (restored after it, also on an error).

    What the block built and still holds is then moved to the oldest generation without a scan (`promote_young`):
    otherwise the first allocation after it triggers a young collection that scans every object it made, once."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            promote_young()
            gc.enable()


def promote_young() -> None:
    """Move every object the collector tracks to its oldest generation, unscanned (gc.freeze then gc.unfreeze, both
    constant time): they are collected, if ever in a cycle, by a full collection. When something is frozen already
    (the demo freezes what outlives each step), they join it instead, so its freeze is not undone."""
    frozen = gc.get_freeze_count()
    gc.freeze()
    if not frozen:
        gc.unfreeze()
