"""``vahti evaluate``: run the deadline engine over JSON files (a stable CLI contract).

Files hold a JSON array or ``{"items": [...]}`` in the Provider Case API shapes. Exit 0
whatever the deadlines say; exit 2 with a one-line error only for unusable input
(unreadable file, bad JSON, bad date, unknown pack).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table

import rules
from contract import validate
from contract.rejected import Rejected
from core.errors import InputError, VahtiError
from rules.deadline import Deadline, Status

HELSINKI = ZoneInfo("Europe/Helsinki")
STATUS_STYLE = {
    Status.OPEN: "green",
    Status.DUE_SOON: "bold yellow",
    Status.BREACHED: "bold red",
    Status.MET: "green",
    Status.MET_LATE: "red",
    Status.OK: "green",
    Status.AT_RISK: "bold magenta",
    Status.WAITING: "dim",
    Status.NOT_APPLICABLE: "dim",
    Status.ADVISORY: "cyan",
    Status.UNCONFIGURED: "dim yellow",
}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one evaluation produced, ready to render."""

    today: date
    pack: rules.RulePack
    deadlines: list[Deadline]
    rejected: list[Rejected]

    def to_json(self) -> dict[str, object]:
        """The documented ``--format json`` object."""
        return {
            "today": self.today.isoformat(),
            "pack": {"id": self.pack.id, "provisional": list(self.pack.provisional_parameters())},
            "deadlines": [deadline.to_json() for deadline in self.deadlines],
            "rejected": [item.to_json() for item in self.rejected],
        }


def parse_today(text: str) -> date:
    """A YYYY-MM-DD date or an InputError naming the value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--today {text!r} is not a date (YYYY-MM-DD)") from None


def load_items(path: Path | None, option: str) -> list[Any]:
    """The items of a JSON file (array or {"items": [...]}); [] when no file is given."""
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{option} {path}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return list(data["items"])
    if isinstance(data, list):
        return data
    raise InputError(f"{option} {path}: expected a JSON array or an object with 'items'")


def run(
    cases: Sequence[Any],
    audits: Sequence[Any],
    staff: Sequence[Any] | None,
    *,
    today: date,
    pack_id: str | None,
) -> Evaluation:
    """Validate the raw items and evaluate the valid ones (``staff=None``: no staff file, so
    COACH-TEAM-MIN-3 is ``unconfigured``)."""
    pack = rules.get_pack(pack_id) if pack_id else None
    valid_cases, rejected_cases = validate.validate_cases(list(cases))
    valid_audits, rejected_audits = validate.validate_audits(list(audits))
    valid_staff, rejected_staff = validate.validate_staff([] if staff is None else list(staff))
    deadlines = rules.evaluate(
        valid_cases,
        valid_audits,
        None if staff is None else valid_staff,
        pack,
        today,
        rules.FinnishCalendar(),
    )
    return Evaluation(
        today=today,
        pack=pack or rules.pack_in_force(today),
        deadlines=deadlines,
        rejected=[*rejected_cases, *rejected_audits, *rejected_staff],
    )


def render_table(result: Evaluation, *, explain: bool, console: Console) -> None:
    """Deadlines grouped by subject with coloured statuses, then the rejected items."""
    provisional = ", ".join(result.pack.provisional_parameters()) or "none"
    console.print(
        f"Vahti deadlines on {result.today} - rule pack {result.pack.id} "
        f"(provisional: {provisional})"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("subject", no_wrap=True, min_width=17)
    for column in ("rule", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("due", no_wrap=True, min_width=10)
    table.add_column("days", no_wrap=True, justify="right", min_width=4)
    table.add_column("details", overflow="fold")
    ordered = sorted(result.deadlines, key=lambda d: (d.subject_kind, d.subject))
    previous = None
    for deadline in ordered:
        subject = f"{deadline.subject_kind} {deadline.subject}"
        style = STATUS_STYLE[deadline.status]
        row = [
            subject if subject != previous else "",
            deadline.rule,
            f"[{style}]{deadline.status.value}[/]",
            deadline.due_on.isoformat() if deadline.due_on else "",
            "" if deadline.days_left is None else str(deadline.days_left),
            "\n".join(deadline.details),
        ]
        table.add_row(*row)
        previous = subject
    console.print(table)
    if explain:
        console.rule("explanations")
        for deadline in ordered:
            style = STATUS_STYLE[deadline.status]
            console.print(
                f"[bold]{deadline.subject_kind} {deadline.subject}[/] {deadline.rule} "
                f"[{style}]{deadline.status.value}[/]",
                highlight=False,
            )
            for line in deadline.explanation:
                console.print(f"    {line}", highlight=False, markup=False)
    if result.rejected:
        rejected = Table(title="rejected items")
        for column in ("kind", "ref", "errors"):
            rejected.add_column(column)
        for item in result.rejected:
            rejected.add_row(item.kind, item.ref or "?", "\n".join(item.errors))
        console.print(rejected)


def emit(result: Evaluation, *, output_format: str, explain: bool) -> None:
    """Print ``result`` as JSON or as a table."""
    if output_format == "json":
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        width = None if sys.stdout.isatty() else 120  # files and pipes get a readable width
        render_table(result, explain=explain, console=Console(soft_wrap=False, width=width))


def today_in_helsinki() -> date:
    """Today's date in Finland (the shell reads the clock; the engine never does)."""
    return datetime.now(HELSINKI).date()


def evaluate_command(  # noqa: PLR0917 - typer maps each CLI option to a parameter
    today: Annotated[
        str | None,
        typer.Option(help="The evaluation date, YYYY-MM-DD (default: today in Europe/Helsinki)."),
    ] = None,
    cases: Annotated[Path | None, typer.Option(help="Cases: JSON array or {items}.")] = None,
    audits: Annotated[Path | None, typer.Option(help="Audits: JSON array or {items}.")] = None,
    staff: Annotated[Path | None, typer.Option(help="Coaches: JSON array or {items}.")] = None,
    pack: Annotated[
        str | None, typer.Option(help="Rule pack id (default: the pack in force per trigger).")
    ] = None,
    output_format: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table (people) or json.")
    ] = "table",
    explain: Annotated[bool, typer.Option("--explain", help="Show every explanation.")] = False,
) -> None:
    """Evaluate every rule for the given cases, audits and staff on --today (default: today)."""
    try:
        result = run(
            load_items(cases, "--cases"),
            load_items(audits, "--audits"),
            None if staff is None else load_items(staff, "--staff"),
            today=today_in_helsinki() if today is None else parse_today(today),
            pack_id=pack,
        )
    except VahtiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    emit(result, output_format=output_format, explain=explain)


def register(app: typer.Typer) -> None:
    """Add ``vahti evaluate`` to the CLI."""
    app.command("evaluate")(evaluate_command)
