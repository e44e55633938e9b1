"""Planning a run's alerts and writing them ahead: the ledger rows, then COMMIT.

1. read the deadlines that can have something new to say, their ledger entries and the
   acks/silences, and run the pure policy (:mod:`notifications.planning`);
2. route each due alert to its targets and add the day's breach reminder for quality
   staff;
3. write every new ledger row, cancel the ones no longer due, mark the planned
   deadlines, and COMMIT, all before anything is sent (:mod:`notifications.dispatch`
   sends).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine

from contract.payloads import CoachPayload
from core.config import AlertSettings, Settings
from core.errors import InputError
from models import ledger
from models.candidates import mark_planned
from models.db import read_scope, session_scope, shared_engine
from models.reads import load_staff_by_provider
from notifications.counts import NotifyReport
from notifications.items import MessageItem, reason_fields
from notifications.planning import Identity, RunPlan, identity, plan_run
from notifications.policy import PlannedAlert, PolicySettings
from notifications.routing import Router, Target, check_recipients
from rules.calendar import FinnishCalendar

ROW_BATCH = 5000  # alerts turned into ledger rows and written at a time


def policy_settings(alerts: AlertSettings) -> PolicySettings:
    """The policy's knobs from the settings' ``[alerts]`` table."""

    def clock(text: str) -> time:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))

    return PolicySettings(
        lead_days=tuple(sorted(set(alerts.lead_days), reverse=True)),
        breach_repeat=alerts.breach_repeat,
        resolved_note=alerts.resolved_note,
        send_window_start=clock(alerts.send_window_start),
        send_window_end=clock(alerts.send_window_end),
        timezone=alerts.timezone,
        backlog_age_days=alerts.backlog_age_days,
    )


def _safe_link(link: str | None) -> str | None:
    return link if link and link.startswith(("https://", "http://")) else None


def message_item(alert: PlannedAlert) -> MessageItem:
    """What the ledger keeps of an alert to render it (and render it again on a retry)."""
    d = alert.deadline
    return MessageItem(
        provider_id=alert.provider_id,
        subject_kind=d.subject_kind,
        subject=d.subject,
        rule=d.rule,
        stage=alert.stage,
        status=d.status.value,
        urgent=alert.urgent,
        due_on=d.due_on,
        days_left=alert.days_left,
        link=_safe_link(d.link),
        count=d.count,
        limit=d.limit,
        **reason_fields(d.explanation, d.details),
    )


def alert_row(
    alert: PlannedAlert, target: Target, item: MessageItem, *, now: datetime, today: date
) -> dict[str, Any]:
    """One ``pending`` ledger row: one stage of one deadline for one target."""
    d = alert.deadline
    return {
        "dedup_key": alert.key,
        "provider_id": alert.provider_id,
        "subject_kind": d.subject_kind,
        "subject": d.subject,
        "rule": d.rule,
        "due_on": d.due_on,
        "stage": alert.stage,
        "target_key": target.key,
        "recipient_key": target.recipient_key,
        "role": target.role,
        "target_label": target.label,
        "language": target.language,
        "urgent": alert.urgent,
        "item": orjson.dumps(item.to_json()).decode(),
        "status": "pending",
        "attempts": 0,
        "operations_notified": False,
        "created_on": today,
        "created_at": now,
    }


def local_today(now: datetime, settings: Settings) -> date:
    """The alerts' local date of ``now`` (an aware time)."""
    if now.tzinfo is None:
        raise InputError(f"now {now.isoformat()} has no time zone")
    return now.astimezone(ZoneInfo(settings.alerts.timezone)).date()


def ledger_rows(
    alerts: list[PlannedAlert],
    router: Router,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
    unroutable: set[Identity] | None = None,
) -> list[dict[str, object]]:
    """The ledger rows of ``alerts``, one per target; an alert without one is counted
    unroutable (and, with ``unroutable``, its deadline stays unplanned)."""
    rows: list[dict[str, object]] = []
    for alert in alerts:
        targets = router.route(alert, on=today)
        if not targets:
            report.unroutable += 1
            report.errors.append(f"{alert.key}: no recipient configured")
            if unroutable is not None:
                unroutable.add(identity(alert))
            continue
        item = message_item(alert)
        rows += [alert_row(alert, t, item, now=now, today=today) for t in targets]
    return rows


def _reminder_rows(
    run: RunPlan, router: Router, *, now: datetime, today: date, report: NotifyReport
) -> list[dict[str, object]]:
    """The day's breach reminder, one ledger row per quality recipient URL."""
    alert, summary = run.reminder, run.summary
    if alert is None or summary is None:
        return []
    targets = router.quality
    if not targets:
        report.unroutable += 1
        report.errors.append(f"{alert.key}: no quality or operations recipient configured")
        return []
    item = replace(message_item(alert), reminder=summary, reason=alert.deadline.explanation[0])
    return [alert_row(alert, t, item, now=now, today=today) for t in targets]


def _backlog_rows(
    run: RunPlan, router: Router, *, now: datetime, today: date, report: NotifyReport
) -> list[dict[str, object]]:
    """Each catching-up provider's backlog summary, one ledger row per quality recipient URL."""
    rows: list[dict[str, object]] = []
    for alert, summary in run.backlog:
        targets = router.quality
        if not targets:
            report.unroutable += 1
            report.errors.append(f"{alert.key}: no quality or operations recipient configured")
            continue
        item = replace(message_item(alert), reminder=summary, reason=alert.deadline.explanation[0])
        rows += [alert_row(alert, t, item, now=now, today=today) for t in targets]
    return rows


def settled_rows(run: RunPlan, *, now: datetime, today: date) -> list[dict[str, object]]:
    """The backlog's breaches as ``summarized`` ledger rows: their breach is told (in the
    summary), so the policy never sends them one by one, and a resolved note follows."""
    rows = []
    for alert in run.result.backlog:
        row = alert_row(alert, _SETTLED, message_item(alert), now=now, today=today)
        row.update(
            status=ledger.SUMMARIZED,
            target_key=ledger.BACKLOG_TARGET,
            target_label="backlog summary (not sent on its own)",
        )
        rows.append(row)
    return rows


#: The one "target" of the summarized rows: they are never claimed or sent.
_SETTLED = Target(recipient_key=ledger.BACKLOG_TARGET, role="quality", language="en", url="")


def staff_of(engine: Engine, provider_ids: set[str]) -> dict[str, list[CoachPayload]]:
    """Each provider's stored staff list, by provider id."""
    with read_scope(engine) as session:
        return load_staff_by_provider(session=session, provider_ids=provider_ids)


def plan(
    engine: Engine, settings: Settings, *, provider_id: str | None, today: date, now: datetime
) -> RunPlan:
    """The policy's plan over the candidates of one provider (or all), from one snapshot."""
    with read_scope(engine) as session:
        return plan_run(
            session=session,
            provider_id=provider_id,
            today=today,
            now=now,
            settings=policy_settings(settings.alerts),
            calendar=FinnishCalendar(),
        )


def batches(
    run: RunPlan,
    router: Router,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
    unroutable: set[Identity],
) -> Iterator[list[dict[str, object]]]:
    """The ledger rows, a few thousand alerts at a time (a national first run has tens of
    thousands: their rows are never all in memory at once), then the day's reminder."""
    due = run.result.due
    for start in range(0, len(due), ROW_BATCH):
        chunk = list(due[start : start + ROW_BATCH])
        yield ledger_rows(chunk, router, now=now, today=today, report=report, unroutable=unroutable)
    yield _reminder_rows(run, router, now=now, today=today, report=report)
    yield _backlog_rows(run, router, now=now, today=today, report=report)


def write_ahead(
    engine: Engine,
    run: RunPlan,
    router: Router,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
) -> None:
    """Write the plan's ledger rows, cancel what it no longer justifies, mark the planned
    rows, and COMMIT: all before any send."""
    unroutable: set[Identity] = set()
    made: Iterable[list[dict[str, object]]] = batches(
        run, router, now=now, today=today, report=report, unroutable=unroutable
    )
    if len(run.result.due) <= ROW_BATCH:  # one batch: made before the writer lock is taken
        made = list(made)
    with session_scope(engine) as session:
        for rows in made:
            report.planned += ledger.write_alerts(session=session, rows=rows)
        backlog = settled_rows(run, now=now, today=today)
        for start in range(0, len(backlog), ROW_BATCH):
            chunk = backlog[start : start + ROW_BATCH]
            report.backlog += ledger.write_alerts(session=session, rows=chunk)
        report.cancelled += ledger.cancel(
            session=session,
            keys=run.result.obsolete,
            reason="no longer due: met, superseded, moved or silenced",
            now=now,
        )
        report.cancelled += ledger.cancel(
            session=session,
            keys=run.stale_reminders,
            reason="replaced by a newer breach reminder",
            now=now,
        )
        mark_planned(session=session, ids=run.settled_ids(unroutable))


def plan_provider(
    settings: Settings,
    *,
    now: datetime,
    provider_id: str,
    environ: Mapping[str, str] | None = None,
    coaches: Sequence[CoachPayload] | None = None,
    recipients_checked: bool = False,
) -> NotifyReport:
    """Plan one provider's alerts and write them ahead; nothing is sent.

    The compliance check runs this at the end of each provider's check (in its worker,
    while the provider's rows are fresh in the database's cache), and its notify gets
    ``planned=``. Recipients are validated as notify does, except for the coach ids:
    notify checks those against every provider's coaches. ``coaches``: the provider's
    stored staff list when the caller has it (the check read it for the evaluation).
    ``recipients_checked``: the caller validated the recipients' URLs already, in this
    environment (the compliance check's flow does, once, before its checks: its worker
    processes then never load Apprise).
    """
    today = local_today(now, settings)
    report = NotifyReport()
    if not recipients_checked:
        check_recipients(settings.recipients, environ=environ)
    engine = shared_engine(settings.database.url)
    plan_and_write(
        engine, settings, provider_id, now=now, today=today, report=report, coaches=coaches
    )
    return report


def plan_and_write(
    engine: Engine,
    settings: Settings,
    provider_id: str,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
    coaches: Sequence[CoachPayload] | None = None,
) -> None:
    run = plan(engine, settings, provider_id=provider_id, today=today, now=now)
    report.suppressed += len(run.result.suppressed)
    report.held += len(run.result.held)
    report.suppressed_items += suppressed_items(run)
    staff = staff_of(engine, {provider_id}) if coaches is None else {provider_id: list(coaches)}
    router = Router(settings.recipients, staff)
    write_ahead(engine, run, router, now=now, today=today, report=report)


def suppressed_items(run: RunPlan) -> list[dict[str, object]]:
    """The acknowledged or silenced items of a plan, as the notify report lists them."""
    return [
        {
            "key": s.alert.key,
            "kind": s.suppression.kind,
            "reason": s.suppression.reason,
            "by": s.suppression.by,
            "until_on": s.suppression.until_on.isoformat() if s.suppression.until_on else None,
        }
        for s in run.result.suppressed
    ]
