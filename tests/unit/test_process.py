"""Process-wide tuning: a relaxed collector threshold, and releasing what batches left."""

from __future__ import annotations

import gc
import weakref

from core.process import BATCH_THRESHOLD, release_memory, tune_collector


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_tune_collector_raises_the_threshold_and_never_lowers_it() -> None:
    """The threshold goes up to BATCH_THRESHOLD, never down; a disabled collector stays off."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, before[1], before[2])
        tune_collector()
        assert gc.get_threshold()[0] == BATCH_THRESHOLD
        gc.set_threshold(BATCH_THRESHOLD * 2, before[1], before[2])
        tune_collector()
        assert gc.get_threshold()[0] == BATCH_THRESHOLD * 2
        gc.disable()
        tune_collector()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.set_threshold(*before)


def test_release_memory_collects_cycles_the_relaxed_collector_left() -> None:
    """A reference cycle the relaxed collector left behind is freed by release_memory."""
    before = gc.get_threshold()
    try:
        tune_collector()
        first, second = _Node(), _Node()
        first.other, second.other = second, first  # a cycle: reference counts never free it
        alive = weakref.ref(first)
        del first, second
        assert alive() is not None
        release_memory()
        assert alive() is None
    finally:
        gc.set_threshold(*before)
