"""Vahti's schema: Alembic's migrations, run in code, and the check that a database is
at this code's revision.

Alembic owns the schema: :func:`upgrade` runs the migrations in ``models/migrations``
programmatically (no ``alembic.ini``), and :func:`check_schema` refuses a database that
is behind or ahead of this code.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("vahti.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest migration in ``MIGRATIONS_DIR`` (a test checks it against the scripts): a
#: process that only reads and writes checks its database against it without importing
#: Alembic, which is slow to import.
SCHEMA_HEAD = "0013"
#: PostgreSQL advisory lock key serialising migrations (two first runs at once).
MIGRATION_LOCK_KEY = 0x7A47_0001


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
        raise StoreError(f"cannot read the schema version of {safe_url(engine)}: {exc}") from exc
    return None if found is None else str(found[0])


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Apply the migrations up to ``revision``; return the revision now in force."""
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE serialises
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            from alembic import command  # noqa: PLC0415 - see SCHEMA_HEAD

            command.upgrade(alembic_config(connection), revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"migrating {safe_url(engine)} failed: {exc}") from exc
    now = current_revision(engine)
    log.info("database %s at schema revision %s", safe_url(engine), now)
    return now or ""


def check_schema(engine: Engine) -> None:
    """Raise StoreError unless the database is exactly at this code's head revision."""
    current = current_revision(engine)
    head = SCHEMA_HEAD
    if current == head:
        return
    if current is None:
        raise StoreError(
            f"database {safe_url(engine)} has no Vahti schema: run `vahti db upgrade --config FILE`"
        )
    if current not in script_revisions():
        raise StoreError(
            f"database {safe_url(engine)} is at schema revision {current!r}, newer than this "
            f"Vahti (head {head!r}): upgrade Vahti before using this database"
        )
    raise StoreError(
        f"database {safe_url(engine)} is at schema revision {current!r}, behind this Vahti "
        f"(head {head!r}): run `vahti db upgrade --config FILE`"
    )


def ensure_schema(engine: Engine) -> None:
    """Upgrade an empty database to head; refuse one at another revision."""
    if current_revision(engine) is None:
        upgrade(engine)
    check_schema(engine)


def safe_url(engine: Engine) -> str:
    """The engine's URL without its password."""
    return engine.url.render_as_string(hide_password=True)
