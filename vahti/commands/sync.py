"""``vahti sync``: pull every configured provider (or one) into the store."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from core.config import DEFAULT_CONFIG, load_settings
from core.errors import ConfigError, StoreError


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def sync(
    config: Annotated[
        Path, typer.Option("--config", help="Settings file (TOML).")
    ] = DEFAULT_CONFIG,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", help="Only this provider id (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything, not only what changed.")
    ] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """Fetch cases, audits and staff from the providers and store them."""
    from providers.sync import sync_all  # noqa: PLC0415 (keep `vahti --help` fast)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(config)
        reports = sync_all(
            settings, provider_ids=provider, full=full, progress=output is OutputFormat.TEXT
        )
    except ConfigError as exc:
        typer.echo(f"vahti sync: {exc}", err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:
        typer.echo(f"vahti sync: {exc}", err=True)
        raise typer.Exit(1) from None
    if output is OutputFormat.JSON:
        typer.echo(json.dumps({"providers": [r.to_json() for r in reports]}, indent=2))
    else:
        for report in reports:
            state = "ok" if report.ok else "FAILED"
            typer.echo(
                f"{report.id}: {state}  fetched {report.fetched}, stored {report.stored}, "
                f"unchanged {report.unchanged}, rejected {report.rejected} "
                f"({report.duration_seconds:.1f} s)"
            )
            for error in report.errors:
                typer.echo(f"  error: {error}")
    if any(not report.ok for report in reports):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``vahti sync`` to the CLI."""
    app.command("sync")(sync)
