"""``vahti db``: schema migrations and a look at what providers sent that was rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core.config import DEFAULT_CONFIG, load_settings
from core.errors import ConfigError, StoreError

_SHOWN_ERRORS = 5
db_app = typer.Typer(help="Database: migrations and stored data.", no_args_is_help=True)
ConfigOption = Annotated[Path, typer.Option("--config", help="Settings file (TOML).")]


@db_app.command("upgrade")
def upgrade(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Apply the schema migrations up to the newest one."""
    from models.db import make_engine  # noqa: PLC0415 (keep --help fast)
    from models.schema import upgrade as run_upgrade  # noqa: PLC0415

    try:
        settings = load_settings(config)
        engine = make_engine(settings.database.url)
        try:
            revision = run_upgrade(engine)
        finally:
            engine.dispose()
    except ConfigError as exc:
        typer.echo(f"vahti db upgrade: {exc}", err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:
        typer.echo(f"vahti db upgrade: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"database schema at revision {revision}")


@db_app.command("rejected")
def rejected(
    config: ConfigOption = DEFAULT_CONFIG,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List rejected payloads (newest first): reference and every error, no raw data."""
    from models import reads  # noqa: PLC0415
    from models.db import make_engine, session_scope  # noqa: PLC0415
    from models.schema import check_schema  # noqa: PLC0415

    try:
        settings = load_settings(config)
        engine = make_engine(settings.database.url)
        try:
            check_schema(engine)
            with session_scope(engine) as session:
                rows = reads.list_rejected(session=session, provider_id=provider, limit=limit)
        finally:
            engine.dispose()  # its pooled connections closed now, not by the collector
    except ConfigError as exc:
        typer.echo(f"vahti db rejected: {exc}", err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:
        typer.echo(f"vahti db rejected: {exc}", err=True)
        raise typer.Exit(1) from None
    for row in rows:
        if as_json:
            item = {
                "provider": row.provider_id,
                "kind": row.kind,
                "ref": row.ref,
                "received_at": row.received_at.isoformat(),
                "errors": row.errors,
            }
            typer.echo(json.dumps(item, ensure_ascii=False))
        else:
            typer.echo(f"{row.received_at:%Y-%m-%d %H:%M} {row.provider_id} {row.kind} {row.ref}")
            for error in row.errors[:_SHOWN_ERRORS]:
                typer.echo(f"    {error}")
            if len(row.errors) > _SHOWN_ERRORS:
                typer.echo(f"    ... and {len(row.errors) - _SHOWN_ERRORS} more (--json shows all)")


def register(app: typer.Typer) -> None:
    """Add ``vahti db ...`` to the CLI."""
    app.add_typer(db_app, name="db")
