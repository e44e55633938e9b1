"""Engines and sessions for Vahti's store.

The database URL is the only difference between SQLite (the default, one file:
:mod:`models.sqlite`) and PostgreSQL (psycopg 3, production). :func:`shared_engine` keeps
one engine per database URL for the process (its schema checked once, migrated when
empty: :mod:`models.schema`), so the steps of a flow share one connection pool.
:func:`session_scope` is a writing transaction, :func:`read_scope` a snapshot that takes
no lock.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlmodel import Session

from core.errors import StoreError
from models.schema import ensure_schema
from models.sqlite import READ_ONLY, in_memory, sqlite_engine

__all__ = ["in_memory"]  # where callers look for it, next to the engines


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return sqlite_engine(url)
    if parsed.drivername != "postgresql+psycopg":
        raise StoreError(f"unsupported database driver {parsed.drivername!r} in the database url")
    return create_engine(
        parsed,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,  # survive a restarted server between flow runs
        pool_recycle=1800,
    )


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A session that only reads: one consistent snapshot, never blocks a writer.

    On a SQLite file (WAL) it begins a deferred transaction without the process's
    writer lock, so the provider steps' many small reads stop queueing behind each
    other's writes. Writing in it is a bug (SQLite may refuse to upgrade the snapshot).
    """
    session = Session(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
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
