"""SQLite writers of several processes queue on one file lock, held until SQLite commits."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core.errors import StoreError
from models import sqlite
from models.db import make_engine, read_scope, session_scope
from models.sqlite import WriterLock, _writer_lock

HOLDER = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from models.db import make_engine, session_scope
    engine = make_engine(sys.argv[1])
    with session_scope(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        print("holding", flush=True)
        sys.stdin.readline()  # until the test says commit
    print("committed", flush=True)
    """
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    engine.dispose()
    return url


@pytest.fixture
def holder(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process inside a write transaction on the same file, until it is told."""
    command = [sys.executable, "-c", HOLDER, url]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "holding"
        yield process
        if process.poll() is None:
            process.kill()


def _commit(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "committed"


def test_another_process_writing_keeps_this_one_waiting(
    url: str, holder: subprocess.Popen[str]
) -> None:
    lock = _writer_lock(url.removeprefix("sqlite:///"))
    assert not lock.acquire(timeout=0.2)  # the other process holds the file lock
    _commit(holder)
    assert lock.acquire(timeout=5)
    lock.release()


def test_a_writer_that_waits_too_long_gets_a_clear_error(
    url: str, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("models.sqlite.SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(url)
    try:
        with (
            pytest.raises(StoreError, match="stayed locked by its other writers"),
            session_scope(engine) as session,
        ):
            session.execute(text("INSERT INTO t VALUES (2)"))
        _commit(holder)
        with session_scope(engine) as session:  # the lock came back: nothing left held
            session.execute(text("INSERT INTO t VALUES (3)"))
        with session_scope(engine) as session:
            rows = sorted(n for (n,) in session.execute(text("SELECT n FROM t")))
        assert rows == [1, 3]
    finally:
        engine.dispose()


def test_the_lock_is_held_until_sqlite_has_committed(url: str) -> None:
    """A writer let in before the driver's COMMIT would wait in SQLite's busy handler."""
    engine = make_engine(url)
    lock = _writer_lock(url.removeprefix("sqlite:///"))
    depth_at_commit: list[int] = []
    try:
        with session_scope(engine) as session:
            raw = session.connection().connection.driver_connection
            assert raw is not None
            raw.set_trace_callback(
                lambda sql: depth_at_commit.append(lock._depth) if sql == "COMMIT" else None
            )
            session.execute(text("INSERT INTO t VALUES (1)"))
        raw.set_trace_callback(None)
        assert depth_at_commit == [1]
        assert lock._depth == 0
        with pytest.raises(RuntimeError, match="undone"):
            _insert_then_fail(engine)
        assert lock._depth == 0  # released by the rollback
    finally:
        engine.dispose()


def _insert_then_fail(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError("undone")


def _try_lock(path: str, answer: multiprocessing.SimpleQueue[bool]) -> None:
    lock = _writer_lock(path)
    taken = lock.acquire(timeout=0.2)
    answer.put(taken)
    if taken:
        lock.release()


def test_a_forked_child_does_not_share_its_parents_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "f.db")
    lock = _writer_lock(path)
    assert isinstance(lock, WriterLock)
    context = multiprocessing.get_context("fork")
    answer: multiprocessing.SimpleQueue[bool] = context.SimpleQueue()
    assert lock.acquire(timeout=1)
    try:
        child = context.Process(target=_try_lock, args=(path, answer))
        child.start()
        child.join(10)
        assert answer.get() is False  # the parent holds it, in this process or not
    finally:
        lock.release()
    child = context.Process(target=_try_lock, args=(path, answer))
    child.start()
    child.join(10)
    assert answer.get() is True


CONVERTER = textwrap.dedent(
    """
    import sqlite3, sys
    from models.sqlite import _writer_lock
    lock = _writer_lock(sys.argv[1])
    assert lock.acquire(timeout=5)
    raw = sqlite3.connect(sys.argv[1], isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("CREATE TABLE t (n INTEGER)")
    print("holding", flush=True)
    sys.stdin.readline()
    raw.execute("COMMIT")
    raw.execute("PRAGMA journal_mode=WAL")
    raw.close()
    lock.release()
    print("committed", flush=True)
    """
)


def test_a_new_database_is_switched_to_wal_once_under_the_writer_lock(tmp_path: Path) -> None:
    """While another Vahti process switches a new file to WAL (holding the writer lock
    and SQLite's lock on the still rollback-journal file), a new connection waits for it
    and finds the file in WAL mode. ``PRAGMA journal_mode=WAL`` on every connection got
    "database is locked" at once there: SQLite does not wait for that lock (two workers
    of a flow opening a new store at the same moment)."""
    path = str(tmp_path / "new.db")
    command = [sys.executable, "-c", CONVERTER, path]
    found: list[str] = []
    errors: list[BaseException] = []

    def connect() -> None:
        engine = make_engine(f"sqlite:///{path}")
        try:
            with read_scope(engine) as session:
                found.append(str(session.execute(text("PRAGMA journal_mode")).scalar_one()))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as converter:
        assert converter.stdout is not None
        assert converter.stdout.readline().strip() == "holding"
        opener = threading.Thread(target=connect)
        opener.start()
        opener.join(0.3)  # it waits for the converter (or, before, failed at once)
        _commit(converter)
        opener.join(30)
    assert errors == []
    assert found == ["wal"]


def test_a_big_write_is_checkpointed_once_the_lock_is_free(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that changed many rows copies the WAL into the file after releasing
    the writer lock (the other writers need not wait for the copy); small ones leave
    the frames to SQLite's own backstop."""
    database = Path(url.removeprefix("sqlite:///"))
    lock = _writer_lock(str(database))
    seen: list[int] = []
    checkpoint = sqlite._checkpoint

    def spied(driver: object, done: dict[int, int]) -> None:
        seen.append(lock._depth)  # 0: the lock is free
        checkpoint(driver, done)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite, "_checkpoint", spied)
    engine = make_engine(url)
    try:
        size = database.stat().st_size
        with session_scope(engine) as session:  # below the threshold: stays in the WAL
            session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(10)])
        assert database.stat().st_size == size
        rows = [{"n": n} for n in range(sqlite.CHECKPOINT_ROWS)]
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), rows)
        assert database.stat().st_size > size  # copied into the database file
        with read_scope(engine) as session:  # a reader's commit checkpoints nothing
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == len(rows) + 10
        assert seen == [0, 0]
    finally:
        engine.dispose()
