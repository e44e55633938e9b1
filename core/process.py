"""Process-wide tuning, done once where a process starts its work (never by the engine).

Batch work (validating, evaluating and storing pages of cases) allocates millions of
small acyclic objects; with the default first-generation threshold the cyclic collector
runs thousands of times a batch and rescans every live object (bench/HISTORY.md, "the
collector"). :func:`tune_collector` raises that threshold once for the process and
freezes what the process holds already; the shells call it where a process starts its
work (the flows, the `vahti` command, the workers' fork server, the test session).
:func:`release_memory` gives back what a phase of batches left before the next phase.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

BATCH_THRESHOLD = 1_000_000

_frozen = False


def tune_collector() -> None:
    """Collect the first generation every BATCH_THRESHOLD allocations, not every 700.

    Never lowers a higher setting, leaves a collector that is off (threshold 0 or
    disabled) alone and never toggles anything back, so it is safe to call from every
    thread and every entry point. The first time, everything the process holds already
    (the libraries, the settings) moves to the permanent generation: full collections
    then scan only what the work made.
    """
    global _frozen  # noqa: PLW0603 - one process-wide switch, set once
    first, second, third = gc.get_threshold()
    if 0 < first < BATCH_THRESHOLD:
        gc.set_threshold(BATCH_THRESHOLD, second, third)
    if not _frozen and gc.isenabled():
        _frozen = True
        gc.freeze()


@functools.cache
def _malloc_trim() -> Callable[[int], object] | None:
    """glibc's ``malloc_trim``, looked up once (``find_library`` runs a subprocess)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: musl, macOS
        return None
    trim.argtypes = [ctypes.c_size_t]
    return trim


def release_memory() -> None:
    """Collect what the batches left in cycles and return the freed pages to the OS.

    For the start of a phase that follows many batches (notifying after the provider
    checks): the relaxed collector leaves cyclic garbage of library objects until its
    next pass, and memory that threads freed stays in their malloc arenas; without this
    the next phase's peak adds to the last one's.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
