"""SQLite as Vahti runs it: WAL, a busy timeout, and writers that wait their turn.

The file is opened in WAL mode with foreign keys on and a busy timeout, and every
writing transaction starts with ``BEGIN IMMEDIATE``: writers queue instead of failing
with "database is locked" when two processes write at once. Before it, a writer takes
:class:`WriterLock`: the threads of a process queue on a Python lock, the processes (the
flow and its workers) on a file lock beside the database, so writers wait in turn and
start promptly instead of racing SQLite's busy handler. A read-only transaction takes no
lock (WAL snapshots). After a big write the WAL is checkpointed outside the lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from core.errors import StoreError

log = logging.getLogger("vahti.store")

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Page cache per SQLite connection (KiB): indexes of a national store stay in memory.
SQLITE_CACHE_KIB = 32_768
#: The execution option that marks a read-only transaction (:func:`models.db.read_scope`).
READ_ONLY = "vahti_read_only"
#: Longest sleep between two tries of another process's writer lock (seconds).
_LOCK_POLL_MAX = 0.002


class WriterLock:
    """Who may write to one SQLite file: the threads of this process, then the processes.

    Threads queue on a reentrant lock. A thread that takes it first (not nested) then
    takes an exclusive ``flock`` of ``PATH.writer-lock`` beside the database, the one
    lock every Vahti process writing to the file shares (the flow's and its workers).
    A waiting process retries every :data:`_LOCK_POLL_MAX` at most, so it starts promptly
    after the other's commit; SQLite's own busy handler sleeps far longer a try, long after
    the lock is free, and a writer committing page after page can keep it for many.
    ``BEGIN IMMEDIATE`` and the busy timeout stay as the guard against other programs.
    The kernel drops a dead process's ``flock``; a forked child takes its own.
    """

    def __init__(self, lock_file: Path | None) -> None:
        self._lock_file = lock_file  # None: in-memory, this process's alone
        self._fd: int | None = None
        self._start()

    def _start(self) -> None:
        """Fresh state; in a forked child, nothing it inherited is its own."""
        if self._fd is not None:  # the parent's descriptor: closing this copy unlocks nothing
            os.close(self._fd)
        self._pid = os.getpid()
        self._threads = threading.RLock()
        self._fd = None
        self._depth = 0  # changed only by the thread holding self._threads

    def acquire(self, timeout: float) -> bool:
        if self._pid != os.getpid():
            self._start()
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        self._depth += 1
        if self._depth == 1 and self._lock_file is not None:
            try:
                taken = self._flock(deadline)
            except BaseException:
                self._leave()
                raise
            if not taken:
                self._leave()
                return False
        return True

    def release(self) -> None:
        if self._depth == 1 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._leave()

    def _leave(self) -> None:
        self._depth -= 1
        self._threads.release()

    def _flock(self, deadline: float) -> bool:
        if self._fd is None:
            assert self._lock_file is not None
            self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _LOCK_POLL_MAX)
            else:
                return True


_writer_locks: dict[str, WriterLock] = {}

_writer_locks_guard = threading.Lock()


def _writer_lock(database: str | None) -> WriterLock:
    """The one writer lock of a SQLite database file (or in-memory database) per process."""
    memory = not database or database.startswith("memory:")
    key = str(database) if memory else str(Path(str(database)).resolve())
    with _writer_locks_guard:
        if key not in _writer_locks:
            _writer_locks[key] = WriterLock(None if memory else Path(f"{key}.writer-lock"))
        return _writer_locks[key]


def _release(holders: set[int], connection: Any, writer: WriterLock) -> None:
    """Release ``writer`` if ``connection`` (a pooled DBAPI connection) holds it."""
    key = id(connection.driver_connection)
    if key in holders:
        holders.discard(key)
        writer.release()


def in_memory(url: str) -> bool:
    """The URL names an in-memory SQLite database: this process's alone, gone with it."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _acquire(writer: WriterLock, url: str) -> None:
    if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise StoreError(f"database {url!r} stayed locked by its other writers")


def _use_wal(cursor: Any, writer: WriterLock, url: str) -> None:
    """Put the file in WAL mode (it stays so): only the first connection ever changes it.

    Switching a new file to WAL takes an exclusive lock that SQLite does not wait for:
    two processes opening a new database at once (a flow's first workers) made one
    fail with "database is locked". Reading the mode needs no lock; the switch is made
    holding the writer lock, after reading the mode again.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    _acquire(writer, url)
    try:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        writer.release()


def sqlite_engine(url: str) -> Engine:
    memory = in_memory(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    if memory:
        kwargs.update(poolclass=StaticPool)
        kwargs["connect_args"]["check_same_thread"] = False
    engine = create_engine(url, **kwargs)
    writer = _writer_lock(make_url(url).database if not memory else f"memory:{id(engine)}")
    holders: set[int] = set()  # the driver connections holding it (by id)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                _use_wal(cursor, writer, url)
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if not memory and connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # WAL: a reader needs no lock, waits for none
            return
        # Writers queue on WriterLock (threads, then processes) instead of polling
        # SQLite's busy handler, which lets a busy writer starve the others past the
        # busy timeout when many provider steps write at once.
        _acquire(writer, url)
        holders.add(id(connection.connection.driver_connection))
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(holders, connection.connection, writer)
            raise

    _release_after_commit(engine, holders, writer, checkpoint=not memory)
    return engine


def _release_after_commit(
    engine: Engine, holders: set[int], writer: WriterLock, *, checkpoint: bool
) -> None:
    """Release the writer lock once SQLite has committed (or rolled back), not before.

    The "commit" event comes before the driver's commit, and a writer let in then would
    wait in SQLite's busy handler for the commit. Then, with ``checkpoint``, a big write
    is checkpointed (:func:`_checkpoint`). The dialect is this engine's own, and the
    pool resets connections through it too.
    """
    dialect = engine.dialect
    checkpointed: dict[int, int] = {}  # driver connection (id) -> its total_changes then
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        wrote = id(dbapi_connection.driver_connection) in holders
        try:
            commit(dbapi_connection)
        finally:
            _release(holders, dbapi_connection, writer)
        if wrote and checkpoint:
            _checkpoint(dbapi_connection.driver_connection, checkpointed)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _release(holders, dbapi_connection, writer)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


#: SQLite's own checkpoint (in the commit that crosses it, under the writer lock): the
#: backstop for writers of small transactions, which :func:`_checkpoint` leaves alone.
WAL_BACKSTOP_PAGES = 4000

CHECKPOINT_ROWS = 5000  # rows changed through a connection between its own checkpoints


def _checkpoint(driver: sqlite3.Connection, done: dict[int, int]) -> None:
    """Copy the WAL into the database file after a big write, outside the writer lock.

    SQLite checkpoints in the commit that crosses ``wal_autocheckpoint`` pages, while
    that writer still holds the lock, and the copy syncs the file: every other writer
    waits for it (bench/HISTORY.md, "figures that were in the code"). A passive
    checkpoint needs no writer lock, so the others write meanwhile; one that finds
    another checkpoint running leaves the frames to it.
    """
    key, total = id(driver), driver.total_changes
    if total < done.get(key, 0):  # a new connection where an old one was
        done[key] = 0
    if total - done.get(key, 0) < CHECKPOINT_ROWS:
        return
    done[key] = total
    try:
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.OperationalError as error:  # busy or locked: the next one copies them
        log.debug("checkpoint skipped: %s", error)
