"""The collector helpers: a relaxed threshold, and releasing what batches left behind."""

from __future__ import annotations

import gc
import weakref

from rules._gc import BATCH_THRESHOLD, relax_collector, release_memory


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_relax_collector_raises_the_threshold_and_never_lowers_it() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        relax_collector()
        assert gc.get_threshold()[0] == BATCH_THRESHOLD
        gc.set_threshold(BATCH_THRESHOLD * 2, before[1], before[2])
        relax_collector()
        assert gc.get_threshold()[0] == BATCH_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)


def test_release_memory_collects_cycles_the_relaxed_collector_left() -> None:
    before = gc.get_threshold()
    try:
        relax_collector()
        first, second = _Node(), _Node()
        first.other, second.other = second, first  # a cycle: reference counts never free it
        alive = weakref.ref(first)
        del first, second
        assert alive() is not None
        release_memory()
        assert alive() is None
    finally:
        gc.set_threshold(*before)
