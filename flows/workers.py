"""Provider checks in worker processes: a flow's use of every core.

A provider's check (sync, validation, evaluation, storing) is Python work bound to one
core by the GIL. :func:`provider_pool` opens ``flows.provider_processes`` worker
processes for the duration of a block (the scheduled check's provider phase), and
:func:`run` sends a step there: plain values in, a small summary out, as every step in
:mod:`pipeline.steps` is built. Outside such a block, or with ``provider_processes = 0``,
:func:`run` calls the step in the calling thread, as before.

Workers come from a fork server that imported the steps' modules and the program's
main module once: a pool starts in about a second (those imports), later pools of the
same process in milliseconds.
Each call carries the caller's environment (tokens, ``VAHTI_*`` overrides) and working
directory, so a worker sees what the flow sees. The log records a step emits in a
worker travel back with its result and are re-emitted in the calling thread, where the
flow's handlers put them in the task run's logs. A worker that dies (killed, out of
memory) fails the steps it had, with a message that says so; the pool is replaced.
:func:`run_within` bounds a step's time: in a worker an alarm interrupts the step at its
time limit (:class:`StepTimeoutError`, raised inside the step so its own clean-up runs),
and a worker that still does not answer shortly after is killed and the pool replaced
(the other steps it was running then fail as "died"). In the calling thread a step
cannot be interrupted: the caller bounds its wait instead (``flows.compliance``).
When the block ends the workers exit, and their memory goes back to the system before
the flow's next phase.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar, cast

from core.errors import VahtiError

#: Imported once by the fork server: what the provider steps need.
PRELOAD = ("pipeline.steps", "flows._warm")
#: The top-level loggers of Vahti's packages (their records travel back from workers).
LOGGERS = ("vahti", "providers", "models", "notifications", "flows")

P = ParamSpec("P")
R = TypeVar("R")

#: How long past its time limit a worker may take to answer before it is killed.
KILL_GRACE_SECONDS = 30.0

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = 0
_users = 0


class WorkerError(VahtiError):
    """A worker process died before it could answer (killed, or out of memory)."""


class StepTimeoutError(VahtiError):
    """A step ran past its time limit and was stopped."""


class RemoteTracebackError(Exception):
    """The traceback of an exception raised in a worker (chained as its cause)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def processes_for(setting: int | str, tasks: int) -> int:
    """Worker processes for ``tasks`` steps at once; ``"auto"``: one per usable core, plus one.

    A check waits part of its time, for SQLite's writer lock and for the provider's answer;
    the extra worker runs meanwhile (bench/HISTORY.md, "figures that were in the code").
    Never more than ``tasks``; ``"auto"`` gives none (in-process) on one core or for fewer
    than 2 tasks.
    """
    if setting != "auto":
        return max(0, min(int(setting), tasks))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cores or 1) < 2 or tasks < 2:
        return 0  # one worker alone would only add its start-up
    return min((cores or 1) + 1, tasks)


@contextmanager
def provider_pool(processes: int) -> Iterator[int]:
    """Run :func:`run`'s steps in ``processes`` workers until the block ends (0: in-process).

    Re-entrant: a nested block shares the outer pool. Yields the pool's size.
    """
    global _pool, _size, _users  # noqa: PLW0603 (one pool per process, reference counted)
    if processes <= 0:
        yield 0
        return
    with _lock:
        if _pool is None:
            _pool, _size = _new_pool(processes), processes
        _users += 1
        size = _size
    try:
        yield size
    finally:
        with _lock:
            _users -= 1
            pool, done = _pool, _users == 0
            if done:
                _pool, _size = None, 0
        if done and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def run(step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``step(*args, **kwargs)``: in a worker while a pool is open, else right here."""
    return _run(None, step, args, kwargs)


def run_within(seconds: float | None, step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """:func:`run`, stopped after ``seconds`` when it runs in a worker (None: no limit)."""
    return _run(seconds, step, args, kwargs)


def _run(
    seconds: float | None,
    step: Callable[..., R],
    args: tuple[object, ...],
    kwargs: dict[str, object],
) -> R:
    with _lock:
        pool = _pool
    if pool is None:
        return step(*args, **kwargs)
    call = _Call(step, args, kwargs, dict(os.environ), str(Path.cwd()), seconds)
    wait = None if seconds is None else seconds + KILL_GRACE_SECONDS
    try:
        answer: _Answer = pool.submit(_serve, call).result(timeout=wait)
    except FutureTimeoutError:
        _replace(pool, kill=True)
        raise StepTimeoutError(
            f"{_name(step)}: no answer {wait:g} s after it started (time limit {seconds:g} s); "
            "its worker was stopped; the step's work so far is committed page by page"
        ) from None
    except BrokenProcessPool as exc:
        _replace(pool)
        raise WorkerError(
            f"{_name(step)}: the worker process died before answering "
            "(killed, or out of memory); the step's work so far is committed page by page"
        ) from exc
    for record in answer.records:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
    if answer.error is not None:
        raise answer.error from RemoteTracebackError(answer.traceback)
    return cast("R", answer.value)


# -- the pool ---------------------------------------------------------------------------


def _new_pool(processes: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:  # pragma: no cover - Linux has it
        return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    context = multiprocessing.get_context("forkserver")
    # Each worker first runs the program's main module again (multiprocessing's rule).
    # The fork server imports it once: a script through "__main__", a ``python -m``
    # module by its name. What it imports is then loaded before any worker starts.
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    mains = [name] if name and not name.endswith("__main__") else []
    context.set_forkserver_preload(["flows._forkserver", "__main__", *mains, *PRELOAD])
    return ProcessPoolExecutor(processes, mp_context=context)


def _replace(broken: ProcessPoolExecutor, *, kill: bool = False) -> None:
    """Swap a broken pool for a new one of the same size (the flow's other steps go on);
    ``kill``: its workers are stuck, stop them first (nothing else would)."""
    global _pool  # noqa: PLW0603
    with _lock:
        if _pool is broken:
            _pool = _new_pool(_size)
    if kill:
        processes = getattr(broken, "_processes", None) or {}  # no public handle on them
        for process in list(processes.values()):
            process.kill()
    broken.shutdown(wait=False, cancel_futures=True)


def _name(step: Callable[..., object]) -> str:
    return getattr(step, "__qualname__", repr(step))


# -- the worker side ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    step: Callable[..., object]
    args: tuple[object, ...]
    kwargs: dict[str, object]
    environ: dict[str, str]
    cwd: str
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    value: object
    records: list[logging.LogRecord]
    error: BaseException | None = None
    traceback: str = ""


class _Collect(logging.Handler):
    """Keeps a worker step's records, made picklable (message formatted, no objects)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        flat = logging.makeLogRecord(record.__dict__)
        flat.msg, flat.args = record.getMessage(), None
        if record.exc_info:
            flat.exc_text = logging.Formatter().formatException(record.exc_info)
        flat.exc_info = None
        self.records.append(flat)


def _serve(call: _Call) -> _Answer:
    """Run one step in this worker, in the caller's environment and directory."""
    if os.environ != call.environ:
        os.environ.clear()
        os.environ.update(call.environ)
    if str(Path.cwd()) != call.cwd:
        os.chdir(call.cwd)
    collect = _Collect()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        logger.addHandler(collect)
    name = _name(call.step)
    if call.timeout is not None:
        signal.signal(signal.SIGALRM, _alarm(name, call.timeout))
        signal.setitimer(signal.ITIMER_REAL, call.timeout)
    try:
        value = call.step(*call.args, **call.kwargs)
    except Exception as exc:  # noqa: BLE001 - sent back and raised in the caller
        return _Answer(None, collect.records, _picklable(exc), traceback.format_exc())
    finally:
        if call.timeout is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
        for logger in loggers:
            logger.removeHandler(collect)
    return _Answer(value, collect.records)


def _alarm(name: str, seconds: float) -> Callable[[int, object], None]:
    def expired(signum: int, frame: object) -> None:
        del signum, frame
        raise StepTimeoutError(f"{name}: stopped at its time limit of {seconds:g} s")

    return expired


def _picklable(exc: Exception) -> Exception:
    """``exc`` itself when it survives pickling, else a VahtiError with its message."""
    import pickle  # noqa: PLC0415 - only on the error path

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:  # noqa: BLE001
        return VahtiError(f"{type(exc).__name__}: {exc}")
    return exc
