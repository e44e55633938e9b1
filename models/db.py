"""Engines, sessions and schema migrations for Vahti's store.

The database URL is the only difference between SQLite (the default, one file) and
PostgreSQL (psycopg 3, production). Alembic owns the schema: :func:`upgrade` runs the
migrations in ``models/migrations`` programmatically (no ``alembic.ini``), and
:func:`check_schema` refuses a database that is behind or ahead of this code.

:func:`shared_engine` keeps one engine per database URL for the process (its schema
checked once), so the steps of a flow share one connection pool instead of building
and migrating-checking an engine per provider.

SQLite is opened in WAL mode with foreign keys on and a busy timeout, and every
transaction of :func:`session_scope` starts with ``BEGIN IMMEDIATE``: writers queue on
the busy timeout instead of failing with "database is locked" when two processes write
at once. Before it, a writer takes :class:`WriterLock`: the threads of a process queue
on a Python lock, the processes (the flow and its workers) on a file lock beside the
database, so writers wait in turn and start promptly instead of racing the busy
handler. :func:`read_scope` is for reads: a snapshot that takes no lock.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    Insert,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from vahti.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("vahti.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest migration in ``MIGRATIONS_DIR`` (a test checks it against the scripts): a
#: process that only reads and writes checks its database against it without importing
#: Alembic (~0.3 s of every process's start, the workers' fork server's included).
SCHEMA_HEAD = "0010"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Page cache per SQLite connection (KiB): indexes of a national store stay in memory.
SQLITE_CACHE_KIB = 32_768
#: PostgreSQL advisory lock key serialising migrations (two first runs at once).
MIGRATION_LOCK_KEY = 0x7A47_0001


class UTCDateTime(TypeDecorator[datetime]):
    """An aware timestamp stored as UTC; read back aware (UTC) on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so the value is stored
    as naive UTC text, which also keeps its ordering and comparisons right.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError(f"timestamp {value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        del dialect
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.drivername != "postgresql+psycopg":
        raise StoreError(f"unsupported database driver {parsed.drivername!r} in the database url")
    return create_engine(
        parsed,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,  # survive a restarted server between flow runs
        pool_recycle=1800,
    )


_READ_ONLY = "vahti_read_only"
#: Longest sleep between two tries of another process's writer lock (seconds).
_LOCK_POLL_MAX = 0.002


class WriterLock:
    """Who may write to one SQLite file: the threads of this process, then the processes.

    Threads queue on a reentrant lock. A thread that takes it first (not nested) then
    takes an exclusive ``flock`` of ``PATH.writer-lock`` beside the database, the one
    lock every Vahti process writing to the file shares (the flow's and its workers).
    A waiting process retries every 2 ms at most, so it starts within that of the
    other's commit; SQLite's own busy handler sleeps up to 100 ms a try, long after
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


def _sqlite_engine(url: str) -> Engine:
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
        if not memory and connection.get_execution_options().get(_READ_ONLY):
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
    waits for it (at 100 000 cases on 2 cores, ~3 s of the lock's time). A passive
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


def row_binder(
    dialect: Dialect, table: Table, columns: Sequence[str]
) -> Callable[[Sequence[Any]], list[Any]]:
    """A function turning one row (values in ``columns`` order) into the driver's values.

    Each value goes through its column type's own bind processor, so what is stored is
    exactly what a Core ``insert`` would store. Binding needs no connection: rows can be
    made ready before the write transaction and inserted with ``bound=True``.
    """
    return _row_binder(dialect, table, tuple(columns))


@functools.lru_cache(maxsize=64)
def _row_binder(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> Callable[[Sequence[Any]], list[Any]]:
    active = [
        (i, proc, proc(None) is None)  # keeps None as None: not called for one (dates, flags)
        for i, name in enumerate(columns)
        if (proc := _processor(dialect, table, name))
    ]

    def bind(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for index, process, keeps_none in active:
            value = values[index]
            if value is not None or not keeps_none:
                values[index] = process(value)
        return values

    return bind


def _processor(dialect: Dialect, table: Table, name: str) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = (
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    )
    return processor


def bulk_insert(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    bound: bool = False,
    statement: Insert | None = None,
) -> int:
    """INSERT plain tuples (values in ``columns`` order) with one driver ``executemany``;
    the rows the database reports written.

    Values are bound as :func:`row_binder` binds them (``bound``: the rows are its
    output already); skipped are the per-row dictionaries and parameter construction
    that make Core inserts cost tens of microseconds a row. ``constants`` (column ->
    value) are the same for every row: processed once. ``statement`` is the dialect's
    ``insert(table)`` with its ``ON CONFLICT`` clause (no bound values of its own);
    its VALUES are the columns'.
    """
    connection = session.connection()
    dialect = connection.dialect
    fixed = dict(constants or {})
    for column in table.c:  # the columns' own defaults, as a Core insert applies them
        if column.default is not None and column.name not in fixed and column.name not in columns:
            if not column.default.is_scalar:  # pragma: no cover - Vahti's defaults are values
                raise StoreError(f"bulk insert into {table.name}: {column.name} needs a value")
            fixed[column.name] = column.default.arg  # type: ignore[attr-defined]
    names = [*columns, *fixed]
    quote = dialect.identifier_preparer.quote
    order: Sequence[str] = names
    if statement is None and dialect.paramstyle == "qmark":  # SQLite: our order, not the table's
        targets = ", ".join(quote(name) for name in names)  # names from the table's metadata
        marks = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {quote(table.name)} ({targets}) VALUES ({marks})"  # noqa: S608
    else:
        sql, order = _compiled_insert(dialect, table, statement, tuple(names))
    tail = tuple(
        proc(value) if (proc := _processor(dialect, table, name)) else value
        for name, value in fixed.items()
    )
    bind = None if bound else row_binder(dialect, table, columns)
    where = [names.index(name) for name in order]
    plain = where == list(range(len(names)))
    prepared: list[Any] = []
    for row in rows:
        values = list(row) if bind is None else bind(row)
        values.extend(tail)
        if not dialect.positional:
            prepared.append(dict(zip(names, values, strict=True)))
        else:
            prepared.append(tuple(values) if plain else tuple(values[i] for i in where))
    if not prepared:
        return 0
    result = connection.exec_driver_sql(sql, prepared)
    return int(result.rowcount)


_compiled: dict[tuple[object, ...], tuple[str, list[str]]] = {}


def _compiled_insert(
    dialect: Dialect, table: Table, statement: Insert | None, names: tuple[str, ...]
) -> tuple[str, list[str]]:
    """The INSERT's SQL for ``names`` and its parameters' order, compiled once per shape.

    Callers build their ``ON CONFLICT`` statement anew on each call; compiling it costs
    ~0.4 ms, its cache key (the statement's structure, as SQLAlchemy's own statement
    cache keys it) ~0.05 ms.
    """
    base = insert(table) if statement is None else statement
    cache_key = base._generate_cache_key()  # noqa: SLF001 - SQLAlchemy's statement cache key
    key = None if cache_key is None else (dialect, cache_key.key, names)
    found = _compiled.get(key) if key is not None else None
    if found is not None:
        return found
    compiled = base.values({name: bindparam(name) for name in names}).compile(dialect=dialect)
    order = list(names)
    if dialect.positional:
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(names):  # pragma: no cover - a statement with binds
            raise StoreError(f"bulk insert into {table.name}: unexpected parameters")
    found = (str(compiled), order)
    if key is not None:
        if len(_compiled) > 256:  # a handful of shapes in practice; never unbounded
            _compiled.clear()
        _compiled[key] = found
    return found


def insert_dicts(session: Session, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> int:
    """``statement`` (the dialect's INSERT ... ON CONFLICT) for rows with the same keys, by
    :func:`bulk_insert`: one driver executemany. A page's transaction holds SQLite's writer
    lock, and Core's executemany costs tens of microseconds a row. Rows written."""
    if not rows:
        return 0
    columns = list(rows[0])
    values = [[row[name] for name in columns] for row in rows]
    return bulk_insert(session, statement.table, columns, values, statement=statement)  # type: ignore[arg-type]


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A session that only reads: one consistent snapshot, never blocks a writer.

    On a SQLite file (WAL) it begins a deferred transaction without the process's
    writer lock, so the provider steps' many small reads stop queueing behind each
    other's writes. Writing in it is a bug (SQLite may refuse to upgrade the snapshot).
    """
    session = Session(engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()  # ends the snapshot; objects read stay loaded


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no ``alembic.ini``)."""
    from alembic.config import Config  # noqa: PLC0415 - only to migrate (see SCHEMA_HEAD)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_revisions() -> list[str]:
    """Every migration's revision in the scripts, newest first (imports Alembic)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - see SCHEMA_HEAD

    return [rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()]


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision, or None for an empty database."""
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the schema version of {_safe(engine)}: {exc}") from exc
    return None if found is None else str(found[0])


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> str:
    """Apply the migrations up to ``revision``; return the revision now in force."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            from alembic import command  # noqa: PLC0415 - see SCHEMA_HEAD

            command.upgrade(alembic_config(connection), revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating {_safe(engine)} failed: {exc}") from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()
    now = current_revision(engine)
    log.info("database %s at schema revision %s", _safe(engine), now)
    return now or ""


def check_schema(engine: Engine) -> None:
    """Raise StoreError unless the database is exactly at this code's head revision."""
    current = current_revision(engine)
    head = SCHEMA_HEAD
    if current == head:
        return
    if current is None:
        raise StoreError(
            f"database {_safe(engine)} has no Vahti schema: run `vahti db upgrade --config FILE`"
        )
    if current not in script_revisions():
        raise StoreError(
            f"database {_safe(engine)} is at schema revision {current!r}, newer than this "
            f"Vahti (head {head!r}): upgrade Vahti before using this database"
        )
    raise StoreError(
        f"database {_safe(engine)} is at schema revision {current!r}, behind this Vahti "
        f"(head {head!r}): run `vahti db upgrade --config FILE`"
    )


def ensure_schema(engine: Engine) -> None:
    """Upgrade an empty database to head; refuse one at another revision."""
    if current_revision(engine) is None:
        upgrade(engine)
    check_schema(engine)


#: PostgreSQL's own autovacuum defaults (``autovacuum_analyze_threshold``, ``_scale_factor``):
#: a table is analyzed again once more rows than these changed since its last ANALYZE.
ANALYZE_ROWS, ANALYZE_SHARE = 50, 0.1
_PLANNER_COUNTS = text(
    "SELECT c.relname, c.reltuples, COALESCE(s.n_mod_since_analyze, 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
    "AND pg_has_role(c.relowner, 'USAGE') ORDER BY c.relname"  # ANALYZE needs the owner
)


def refresh_statistics(engine: Engine) -> list[str]:
    """ANALYZE the store's tables on PostgreSQL whose planner statistics are missing or stale;
    the names of those analyzed (none on SQLite).

    A first check writes ~0.8 million rows at 100 000 cases. Until a table is analyzed the
    planner guesses, and it guessed a sequential scan of every alert for each provider's
    ledger lookup (28 ms against 2.4 ms a provider, bench/README.md). Autovacuum analyzes
    such tables a minute or more later, or never where it is off; the flow refreshes them
    as soon as its checks end, so its notify and the next run plan with the real counts.
    Analyzed: a table never analyzed that holds rows (read from the table itself, so it does
    not depend on the statistics collector, whose counts lag the writers by up to a second),
    and one in which more rows changed since its last analysis than autovacuum's own
    threshold; only tables the connected role owns (ANALYZE skips the others). ANALYZE
    reads a sample of each table (all of them ~1 s at 100 000 cases) and blocks no reader
    or writer.
    """
    if engine.dialect.name != "postgresql":
        return []
    quote = engine.dialect.identifier_preparer.quote
    stale: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for name, planned_rows, changed in connection.execute(_PLANNER_COUNTS).all():
            if planned_rows <= 0:  # never analyzed (-1; 0 before PostgreSQL 14) or empty
                exists = f"SELECT EXISTS (SELECT 1 FROM {quote(name)})"  # noqa: S608 - a catalogue name, quoted
                if connection.execute(text(exists)).scalar():
                    stale.append(str(name))
            elif changed > ANALYZE_ROWS + ANALYZE_SHARE * planned_rows:
                stale.append(str(name))
        for name in stale:
            connection.execute(text(f"ANALYZE {quote(name)}"))
    return stale


def _safe(engine: Engine) -> str:
    """The engine's URL without its password."""
    return engine.url.render_as_string(hide_password=True)


#: Engines kept by :func:`shared_engine`; the least recently used one past this is disposed.
SHARED_ENGINES = 8
_shared: OrderedDict[str, Engine] = OrderedDict()
_shared_guard = threading.Lock()


def shared_engine(url: str) -> Engine:
    """This process's engine for ``url``: migrated when empty, schema checked once.

    Flow steps run many times per process (one per provider); each one used to build an
    engine, check the schema and dispose the pool again. Callers must not dispose it;
    :func:`dispose_shared_engines` does (at exit, and in tests between databases).
    """
    with _shared_guard:
        engine = _shared.get(url)
        if engine is not None:
            _shared.move_to_end(url)
            return engine
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    with _shared_guard:
        if url in _shared:  # another thread made one meanwhile: use that one
            engine.dispose()
            return _shared[url]
        _shared[url] = engine
        while len(_shared) > SHARED_ENGINES:
            _, old = _shared.popitem(last=False)
            old.dispose()
    return engine


def dispose_shared_engines() -> None:
    """Close every engine :func:`shared_engine` keeps."""
    with _shared_guard:
        engines = list(_shared.values())
        _shared.clear()
    for engine in engines:
        engine.dispose()


atexit.register(dispose_shared_engines)
