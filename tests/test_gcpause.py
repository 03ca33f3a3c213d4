"""gc_paused: no collection inside the block, and what it built is promoted to the oldest generation unscanned."""

from __future__ import annotations

import gc
import weakref

from evalharness.runtime.gcpause import gc_paused, promote_young


class _Node:
    """A container the collector tracks."""

    def __init__(self) -> None:
        self.next: _Node | None = None


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_block_objects_end_in_the_oldest_generation_and_gc_is_back_on() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        node = _Node()
    assert gc.isenabled()
    assert _in_generation(node, 2)
    assert gc.get_freeze_count() == 0


def test_cycles_built_in_the_block_are_still_collected() -> None:
    with gc_paused():
        a, b = _Node(), _Node()
        a.next, b.next = b, a
        ref = weakref.ref(a)
    del a, b
    assert ref() is not None  # a cycle: reference counting alone does not free it
    gc.collect()
    assert ref() is None


def test_an_existing_freeze_is_kept() -> None:
    keep = _Node()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        promote_young()
        assert gc.get_freeze_count() >= frozen  # not undone
    finally:
        gc.unfreeze()
    assert _in_generation(keep, 2)


def test_nested_pause_leaves_gc_disabled_until_the_outer_block_ends() -> None:
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
