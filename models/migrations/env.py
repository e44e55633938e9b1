"""Alembic environment: runs Vahti's migrations on the connection given by models.db.

The configuration is built in code (``models.db.alembic_config``); there is no
``alembic.ini``. Add each module that defines tables to ``TABLE_MODULES`` so that
autogenerate and the schema test see it.
"""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from models.db import make_engine

#: Modules whose SQLModel tables form the schema (imported for their side effect).
TABLE_MODULES = ("models.provider_data", "models.alerting", "models.evaluation")


def _import_tables() -> None:
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise


_import_tables()
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection, or open one from the ``sqlalchemy.url`` option."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url for the migrations")
    engine = make_engine(url)
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use vahti db upgrade")
run_migrations_online()
