"""One shared setting for the cyclic garbage collector during batch work.

Validating, storing or evaluating a batch allocates millions of small acyclic objects
(payloads, dates, deadlines) while the process holds many more (pages, the stored
cases). With the default first-generation threshold (700 allocations) the collector
runs thousands of times per batch and its older generations keep re-scanning every
live object: measured 2-3x slower than the work itself. Nothing a batch allocates
forms a reference cycle, so reference counting frees it all.

:func:`relax_collector` raises the first-generation threshold once, for the process,
to :data:`BATCH_THRESHOLD`; it never lowers a higher setting, leaves a collector that
is off (threshold 0 or disabled) alone, and never toggles anything back and forth, so
threads running batches at the same time cannot undo each other. Measured as fast as
pausing the collector around each batch. What the process holds before its first batch
is frozen once (``gc.freeze``), so later full collections do not rescan it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

BATCH_THRESHOLD = 1_000_000


_frozen = False


def relax_collector() -> None:
    """Collect the first generation every BATCH_THRESHOLD allocations, not every 700.

    The first time, also move everything the process holds already (the libraries, the
    settings) to the collector's permanent generation: a full collection then scans what
    the batches made, not a million objects of imported modules (measured 1-3 s at
    national scale). Nothing is freed later by cycles alone among those objects.
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


def _libc_trim() -> None:
    """Give free heap pages back to the OS (glibc's ``malloc_trim``; elsewhere nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def release_memory() -> None:
    """Collect what the batches left in cycles and return the freed pages to the OS.

    For the start of a phase that follows many batches (notifying after the provider
    checks): with the first generation collected only every :data:`BATCH_THRESHOLD`
    allocations, cyclic garbage of library objects (SQL statements, HTTP requests)
    waits for it, and memory that threads freed stays in their malloc arenas. Without
    this the next phase's peak adds to the last one's. About a tenth of a second.
    """
    gc.collect()
    _libc_trim()
