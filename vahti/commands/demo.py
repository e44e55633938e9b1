"""``vahti demo``: the whole product in one command, on loopback, in a work directory.

Starts the reference provider with synthetic cases and a loopback mail sink, runs the
``compliance-check`` flow once in Prefect's ephemeral mode and writes the weekly
report; prints where to look. See vahti/demo.py for what happens step by step.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from core.errors import VahtiError

HELSINKI = ZoneInfo("Europe/Helsinki")


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def demo(
    cases: Annotated[int, typer.Option(min=1, max=100_000, help="synthetic cases to serve")] = 300,
    seed: Annotated[int, typer.Option(help="generator seed (same seed, same data)")] = 7,
    workdir: Annotated[
        Path, typer.Option(help="where the database, mailbox, report and Prefect home go")
    ] = Path("demo"),
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json")] = (
        OutputFormat.TEXT
    ),
) -> None:
    """Serve a synthetic provider, run compliance-check once, deliver to a local mailbox."""
    from vahti.demo import prepare_environment  # noqa: PLC0415 (before Prefect loads)

    workdir.mkdir(parents=True, exist_ok=True)
    prepare_environment(workdir)
    from vahti.demo import DemoResult, run_demo  # noqa: PLC0415

    now = datetime.now(HELSINKI)
    console = Console(stderr=True)
    started = time.monotonic()
    try:
        with console.status("Vahti demo", spinner="dots") as status:

            def step(text: str) -> None:
                console.log(text)
                status.update(text)

            result: DemoResult = run_demo(
                cases=cases, seed=seed, workdir=workdir, today=now.date(), now=now, step=step
            )
    except VahtiError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(code=1) from None
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(result.to_json(), sort_keys=True))
    else:
        typer.echo(text_summary(result, time.monotonic() - started))
    if result.problems:
        raise typer.Exit(code=1)


def text_summary(result: object, elapsed: float) -> str:
    """What the demo did and where to look, for people."""
    from vahti.demo import DemoResult  # noqa: PLC0415

    assert isinstance(result, DemoResult)
    statuses = ", ".join(f"{k} {v}" for k, v in result.deadlines.items()) or "none"
    home = result.prefect_home
    lines = [
        f"Vahti demo finished in {elapsed:.0f} s.",
        f"  cases served        {result.cases} ({result.rejected} stored as rejected, on purpose)",
        f"  deadlines           {statuses}",
        (
            f"  alerts (this run)   {result.messages_sent} message(s) sent carrying "
            f"{result.sent} alert item(s); {result.failed} item(s) failed, "
            f"{result.pending} pending"
        ),
        "",
        "Where to look:",
        f"  mailbox (Maildir)   {result.mailbox}  ({result.messages_in_mailbox} message(s))",
        f"                      e.g. ls {result.mailbox}/new",
        f"  report (HTML)       {result.report}",
        f"  artifacts and logs  PREFECT_HOME={home} .venv/bin/prefect server start",
        "                      then open http://127.0.0.1:4200 (Runs -> compliance-check)",
        f"                      or: PREFECT_HOME={home} .venv/bin/prefect artifact ls",
    ]
    if result.problems:
        lines += ["", "Problems:", *(f"  {p}" for p in result.problems)]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``vahti demo`` to the CLI."""
    app.command(name="demo")(demo)
