"""``vahti notify``, ``vahti ack``, ``vahti silence`` and ``vahti alerts list``.

Exit codes: 0 done (``notify``: everything due was delivered or is waiting for its send
window), 1 some delivery failed (kept pending and retried by the next run) or the store
refused, 2 unusable configuration or arguments.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import typer

from core.config import DEFAULT_CONFIG, Settings, load_settings
from core.errors import ConfigError, InputError, StoreError, VahtiError

ConfigOption = Annotated[Path, typer.Option("--config", help="Settings file (TOML).")]
FormatOption = Annotated[
    Literal["text", "json"], typer.Option("--format", help="Output: text or json.")
]
alerts_app = typer.Typer(help="The alert ledger.", no_args_is_help=True)
#: ``--today`` runs as if at this local time (inside the default send window).
WHAT_IF_CLOCK = time(9, 0)


def _fail(command: str, exc: VahtiError) -> typer.Exit:
    typer.echo(f"vahti {command}: {exc}", err=True)
    code = 2 if isinstance(exc, ConfigError | InputError) else 1
    return typer.Exit(code)


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def _now(settings: Settings, today: str | None) -> datetime:
    zone = ZoneInfo(settings.alerts.timezone)
    if today is None:
        return datetime.now(tz=zone)
    return datetime.combine(_date(today, "--today"), WHAT_IF_CLOCK, tzinfo=zone)


def notify_command(
    config: ConfigOption = DEFAULT_CONFIG,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: write and send nothing.")
    ] = False,
    today: Annotated[
        str | None, typer.Option("--today", help="Run as if on DATE (YYYY-MM-DD), 09:00 local.")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider.")] = None,
    output: FormatOption = "text",
) -> None:
    """Send the alerts that are due now, from the stored deadlines, through the ledger."""
    from notifications.service import notify  # noqa: PLC0415 (keep --help fast)

    try:
        settings = load_settings(config)
        report = notify(settings, now=_now(settings, today), dry_run=dry_run, provider_id=provider)
    except VahtiError as exc:
        raise _fail("notify", exc) from None
    data = report.to_json()
    if output == "json":
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        if dry_run:
            done = f"would write {report.planned} alert item(s)"
        else:
            done = (
                f"sent {report.messages_sent} message(s) carrying {report.sent} alert item(s); "
                f"{report.messages_failed} message(s) with {report.failed} item(s) failed"
            )
        typer.echo(
            f"{done}; pending {report.pending}, held for the send window {report.held}, "
            f"suppressed {report.suppressed} item(s)"
        )
        for item in report.suppressed_items:
            typer.echo(f"  quiet ({item['kind']} by {item['by']}): {item['key']}: {item['reason']}")
        for error in report.errors:
            typer.echo(f"  error: {error}", err=True)
    if report.failed:
        raise typer.Exit(1)


def _suppress(
    kind: Literal["ack", "silence"],
    *,
    subject: str,
    rule: str,
    reason: str,
    until: str | None,
    by: str,
    provider: str | None,
    config: Path,
) -> None:
    from models.db import make_engine, session_scope  # noqa: PLC0415
    from models.ledger import add_suppression  # noqa: PLC0415
    from models.schema import ensure_schema  # noqa: PLC0415
    from pipeline.suppressions import checked  # noqa: PLC0415 - the UI's checks, shared

    try:
        settings = load_settings(config)
        until_on = _date(until, "--until") if until else None
        now = datetime.now(tz=ZoneInfo(settings.alerts.timezone))
        reason = checked(kind, reason=reason, until_on=until_on, today=now.date())
        engine = make_engine(settings.database.url)
        try:
            ensure_schema(engine)
            with session_scope(engine) as session:
                row = add_suppression(
                    session=session,
                    kind=kind,
                    subject=subject,
                    rule=rule,
                    reason=reason,
                    by=by,
                    until_on=until_on,
                    now=now,
                    provider_id=provider,
                )
        finally:
            engine.dispose()
    except VahtiError as exc:
        raise _fail(kind, exc) from None
    until_text = row.until_on.isoformat() if row.until_on else "until met"
    typer.echo(f"{kind} #{row.id}: {subject} {rule} quiet {until_text} ({row.reason})")


SubjectArg = Annotated[str, typer.Argument(help="Case reference, audit id or coach id.")]
RuleArg = Annotated[str, typer.Argument(help="Rule id, e.g. START-2W.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded).")]
ByOption = Annotated[str, typer.Option("--by", help="Who (recorded).")]
ProviderOption = Annotated[str | None, typer.Option("--provider", help="Only this provider.")]


def ack_command(  # noqa: PLR0917 (typer reads each CLI parameter from the signature)
    subject: SubjectArg,
    rule: RuleArg,
    reason: ReasonOption,
    until: Annotated[str | None, typer.Option("--until", help="Quiet until DATE.")] = None,
    by: ByOption = "",
    provider: ProviderOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Acknowledge an alert: no warnings or breach repeats until DATE (or until met)."""
    _suppress(
        "ack",
        subject=subject,
        rule=rule,
        reason=reason,
        until=until,
        by=by,
        provider=provider,
        config=config,
    )


def silence_command(  # noqa: PLR0917 (typer reads each CLI parameter from the signature)
    subject: SubjectArg,
    rule: RuleArg,
    reason: ReasonOption,
    until: Annotated[str, typer.Option("--until", help="Quiet until DATE (required).")],
    by: ByOption = "",
    provider: ProviderOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Silence an alert until DATE; it stays listed in reports."""
    _suppress(
        "silence",
        subject=subject,
        rule=rule,
        reason=reason,
        until=until,
        by=by,
        provider=provider,
        config=config,
    )


def list_command(
    config: ConfigOption = DEFAULT_CONFIG,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="pending, sending, sent, failed or cancelled (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 200,
    output: FormatOption = "text",
) -> None:
    """Show the alert ledger, newest first."""
    from models.alerting import ALERT_STATUSES  # noqa: PLC0415
    from models.db import make_engine, session_scope  # noqa: PLC0415
    from models.ledger import list_alerts  # noqa: PLC0415
    from models.schema import ensure_schema  # noqa: PLC0415

    try:
        unknown = sorted(set(status or []) - set(ALERT_STATUSES))
        if unknown:
            raise InputError(f"--status {unknown[0]!r} is not one of {', '.join(ALERT_STATUSES)}")
        settings = load_settings(config)
        engine = make_engine(settings.database.url)
        try:
            ensure_schema(engine)
            with session_scope(engine) as session:
                rows = list_alerts(session=session, statuses=status or (), limit=limit)
        finally:
            engine.dispose()
    except (VahtiError, StoreError) as exc:
        raise _fail("alerts list", exc) from None
    data = [
        {
            "id": r.id,
            "key": r.dedup_key,
            "recipient": r.target_label,
            "language": r.language,
            "status": r.status,
            "attempts": r.attempts,
            "urgent": r.urgent,
            "created_at": r.created_at.isoformat(),
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "next_attempt_at": r.next_attempt_at.isoformat() if r.next_attempt_at else None,
            "last_error": r.last_error,
        }
        for r in rows
    ]
    if output == "json":
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for row in data:
        typer.echo(
            f"#{row['id']} {row['status']:<9} x{row['attempts']} {row['key']} -> "
            f"{row['recipient']}" + (f"  [{row['last_error']}]" if row["last_error"] else "")
        )
    typer.echo(f"{len(data)} row(s)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the CLI."""
    app.command("notify")(notify_command)
    app.command("ack")(ack_command)
    app.command("silence")(silence_command)
    alerts_app.command("list")(list_command)
    app.add_typer(alerts_app, name="alerts")
