"""``vahti provider serve`` (the reference provider) and ``vahti provider openapi``."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from core.errors import InputError
from reference.faults import Faults
from reference.generator import Dataset, generate_dataset
from reference.server import create_app, openapi_document
from reference.server_run import run_in_thread

HELSINKI = ZoneInfo("Europe/Helsinki")

TOKEN_ENV = "VAHTI_PROVIDER_TOKEN"  # noqa: S105 - the variable name, not a token

provider_app = typer.Typer(
    help="The reference provider (Provider Case API v1).", no_args_is_help=True
)


def build_datasets(
    *, cases: int, seed: int, today: date, providers: int, invalid_share: float
) -> dict[str, Dataset]:
    """``providers`` datasets sharing ``cases`` between them: ``demo`` alone, else ``p001``..."""
    if providers < 1:
        raise InputError(f"--providers {providers} must be at least 1")
    if providers == 1:
        return {
            "demo": generate_dataset(
                cases=cases, seed=seed, today=today, invalid_share=invalid_share
            )
        }
    share, extra = divmod(cases, providers)
    return {
        f"p{k + 1:03d}": generate_dataset(
            cases=share + (1 if k < extra else 0),
            seed=seed + k,
            today=today,
            provider_id=f"p{k + 1:03d}",
            invalid_share=invalid_share,
        )
        for k in range(providers)
    }


@provider_app.command("serve")
def serve(  # noqa: PLR0917 - typer maps options to parameters
    cases: Annotated[
        int, typer.Option(min=0, help="Cases in total (split across providers).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 1,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(envvar=TOKEN_ENV, show_envvar=True, help="Bearer token clients must send."),
    ] = None,
    providers: Annotated[
        int, typer.Option(min=1, help="Serve this many providers under /{id}/v1.")
    ] = 1,
    today: Annotated[
        str | None, typer.Option(help="Data 'as of' date YYYY-MM-DD (default: today).")
    ] = None,
    invalid_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of invalid cases.")
    ] = 0.0,
    faults: Annotated[
        str, typer.Option(help="Fault knobs, e.g. 'error_rate=0.2,latency_ms=50'.")
    ] = "",
) -> None:
    """Serve synthetic provider data until interrupted (Ctrl-C)."""
    if not token:
        raise typer.BadParameter(f"give --token or set {TOKEN_ENV}", param_hint="--token")
    try:
        as_of = date.fromisoformat(today) if today else datetime.now(HELSINKI).date()
    except ValueError:
        raise typer.BadParameter(f"{today!r} is not YYYY-MM-DD", param_hint="--today") from None
    try:
        fault_knobs = Faults.parse(faults)
        started = time.perf_counter()
        datasets = build_datasets(
            cases=cases, seed=seed, today=as_of, providers=providers, invalid_share=invalid_share
        )
        elapsed = time.perf_counter() - started
        server = run_in_thread(
            create_app(datasets, token=token, faults=fault_knobs), host=host, port=port
        )
    except InputError as error:
        raise typer.BadParameter(str(error)) from None
    with server:
        typer.echo(
            f"Generated {cases} cases for {len(datasets)} provider(s) in {elapsed:.1f} s"
            f" (seed {seed}, today {as_of})."
        )
        if providers == 1:
            typer.echo(f"Serving Provider Case API v1 at {server.url} (also {server.url}/demo)")
        else:
            first, last = next(iter(datasets)), list(datasets)[-1]
            typer.echo(f"Serving {providers} providers at {server.url}/{{{first}..{last}}}")
        if fault_knobs.active:
            typer.echo(f"Faults: {faults}")
        typer.echo("Token: (as given; not shown). Press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("Stopping.")


@provider_app.command("openapi")
def openapi() -> None:
    """Print the Provider Case API v1 OpenAPI document (JSON)."""
    typer.echo(json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add ``vahti provider ...`` to the CLI."""
    app.add_typer(provider_app, name="provider")


__all__ = ["TOKEN_ENV", "build_datasets", "register"]
