"""``notify``: from the stored current deadlines to delivered digests, through the ledger.

1. read the deadlines that can have something new to say, their ledger entries, the
   coaches and acks/silences (:mod:`notifications.planning`);
2. validate the recipients, run the pure policy, route each due alert to its targets,
   add the day's breach reminder for quality staff;
3. write every new ledger row, cancel the ones no longer due, mark the planned
   deadlines, and COMMIT (write-ahead);
4. per target: claim its ready rows, render one digest, send it with Apprise, record
   the result; failed rows wait for their backoff, repeated failures reach operations.

``dry_run`` stops after step 2 and writes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine

from models.alerting import Alert
from models.db import read_scope, session_scope, shared_engine
from models.reads import load_staff
from notifications import ledger
from notifications.candidates import mark_planned
from notifications.delivery import DeliveryResult, deliver
from notifications.messages import MessageItem, reason_fields, render_stored_digest
from notifications.planning import Identity, RunPlan, identity, plan_reminder, plan_run
from notifications.policy import PlannedAlert, PolicySettings
from notifications.routing import Router, Target, targets_of, validate_recipients
from providers.payloads import CoachPayload
from rules.calendar import FinnishCalendar
from rules.deadline import Deadline, Status
from vahti.config import AlertSettings, Settings
from vahti.errors import InputError
from vahti.summaries import AlertPlanSummary

log = logging.getLogger("vahti.notifications")
#: A test hook: called with ("claimed" | "delivered" | "recorded", target key).
Hook = Callable[[str, str], None]
_DEFAULT_LANGUAGES = ("fi", "sv", "en")
ROW_BATCH = 5000  # alerts turned into ledger rows and written at a time


@dataclass
class NotifyReport:
    """What one ``notify`` run did; ``to_json`` is the CLI's ``--format json``."""

    sent: int = 0  # alerts delivered in this run
    failed: int = 0  # alerts whose delivery failed in this run (kept for retry)
    suppressed: int = 0  # acknowledged or silenced items (listed in ``suppressed_items``)
    pending: int = 0  # undelivered ledger rows after the run + items held for the window
    held: int = 0  # non-urgent items outside the send window (sent in a later run)
    planned: int = 0  # ledger rows this run wrote (dry run: would write)
    cancelled: int = 0  # undelivered rows no longer justified (met, superseded, silenced)
    unroutable: int = 0  # due alerts with no recipient at all
    digests: int = 0
    operations_told: int = 0
    possible_duplicates: int = 0  # attempts interrupted after the receiver may have accepted
    dry_run: bool = False
    by_language: dict[str, int] = field(default_factory=dict)
    suppressed_items: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_plan(self) -> AlertPlanSummary:
        """What a planning-only run (:func:`plan_provider`) did, as a check reports it."""
        return AlertPlanSummary(
            planned=self.planned,
            cancelled=self.cancelled,
            suppressed=self.suppressed,
            held=self.held,
            unroutable=self.unroutable,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "pending": self.pending,
            "by_language": dict(sorted(self.by_language.items())),
            "held": self.held,
            "planned": self.planned,
            "cancelled": self.cancelled,
            "unroutable": self.unroutable,
            "digests": self.digests,
            "operations_told": self.operations_told,
            "possible_duplicates": self.possible_duplicates,
            "dry_run": self.dry_run,
            "suppressed_items": self.suppressed_items,
            "errors": self.errors,
        }


def policy_settings(alerts: AlertSettings) -> PolicySettings:
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
    )


def _safe_link(link: str | None) -> str | None:
    return link if link and link.startswith(("https://", "http://")) else None


def message_item(alert: PlannedAlert) -> MessageItem:
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


def all_targets(settings: Settings) -> dict[str, Target]:
    r = settings.recipients
    found = [t for cid, rc in r.coaches.items() for t in targets_of(f"coach:{cid}", "coach", rc)]
    for i, rc in enumerate(r.quality):
        found += targets_of(f"quality:{rc.name or i}", "quality", rc)
    for i, rc in enumerate(r.operations):
        found += targets_of(f"operations:{rc.name or i}", "operations", rc)
    return {t.key: t for t in found}


def _today(now: datetime, settings: Settings) -> date:
    if now.tzinfo is None:
        raise InputError(f"now {now.isoformat()} has no time zone")
    return now.astimezone(ZoneInfo(settings.alerts.timezone)).date()


def _rows(
    alerts: list[PlannedAlert],
    router: Router,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
    unroutable: set[Identity] | None = None,
) -> list[dict[str, object]]:
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
        rows += [ledger.alert_row(alert, t, item, now=now, today=today) for t in targets]
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
    return [ledger.alert_row(alert, t, item, now=now, today=today) for t in targets]


def _coaches(engine: Engine, provider_ids: set[str]) -> list[CoachPayload]:
    with read_scope(engine) as session:
        return load_staff(session=session, provider_ids=provider_ids)


def _plan(
    engine: Engine, settings: Settings, *, provider_id: str | None, today: date, now: datetime
) -> RunPlan:
    with read_scope(engine) as session:
        return plan_run(
            session=session,
            provider_id=provider_id,
            today=today,
            now=now,
            settings=policy_settings(settings.alerts),
            calendar=FinnishCalendar(),
        )


def _batches(
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
        yield _rows(chunk, router, now=now, today=today, report=report, unroutable=unroutable)
    yield _reminder_rows(run, router, now=now, today=today, report=report)


def _write_ahead(
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
    batches: Iterable[list[dict[str, object]]] = _batches(
        run, router, now=now, today=today, report=report, unroutable=unroutable
    )
    if len(run.result.due) <= ROW_BATCH:  # one batch: made before the writer lock is taken
        batches = list(batches)
    with session_scope(engine) as session:
        for rows in batches:
            report.planned += ledger.write_alerts(session=session, rows=rows)
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


def notify(
    settings: Settings,
    *,
    now: datetime,
    dry_run: bool = False,
    provider_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    hook: Hook | None = None,
    planned: Mapping[str, AlertPlanSummary] | None = None,
) -> NotifyReport:
    """Plan, write ahead, deliver and record; see the module docstring.

    ``planned``: the providers whose alerts their checks already planned and wrote at
    this ``now`` (:func:`plan_provider`), with what each did. Then only the other
    configured providers are planned here (one by one), and the day's reminder; the
    report counts the whole run.
    """
    if planned:
        if dry_run or provider_id is not None:
            raise ValueError("planned is for the whole run: not with dry_run or provider_id")
        return _notify_rest(settings, planned, now=now, environ=environ, hook=hook)
    today = _today(now, settings)
    report = NotifyReport(dry_run=dry_run)
    engine = shared_engine(settings.database.url)
    run = _plan(engine, settings, provider_id=provider_id, today=today, now=now)
    result = run.result
    scope = {item.provider_id for item in run.candidates.values()}
    scope |= {p.id for p in settings.providers} | ({provider_id} if provider_id else set())
    coaches = _coaches(engine, scope)
    validate_recipients(
        settings.recipients,
        known_coach_ids={c.id for c in coaches} if coaches else None,
        environ=environ,
    )
    report.suppressed = len(result.suppressed)
    report.held = len(result.held)
    report.suppressed_items = _suppressed_items(run)
    router = Router(settings.recipients, coaches)
    if dry_run:
        for rows in _batches(run, router, now=now, today=today, report=report, unroutable=set()):
            report.planned += len(rows)
            for row in rows:
                lang = str(row["language"])
                report.by_language[lang] = report.by_language.get(lang, 0) + 1
        with read_scope(engine) as session:
            report.pending = ledger.count_open(session=session) + report.held
        return report
    _write_ahead(engine, run, router, now=now, today=today, report=report)
    _deliver(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    return report


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
    today = _today(now, settings)
    report = NotifyReport()
    if not recipients_checked:
        _valid_recipients(settings, environ)
    engine = shared_engine(settings.database.url)
    _plan_and_write(
        engine, settings, provider_id, now=now, today=today, report=report, coaches=coaches
    )
    return report


_validated: set[str] = set()  # recipients (as JSON, with the environment) found valid


def _valid_recipients(settings: Settings, environ: Mapping[str, str] | None) -> None:
    """validate_recipients without the coach ids, once per process for the same settings."""
    env = os.environ if environ is None else environ
    key = orjson.dumps(
        [settings.recipients.model_dump(mode="json"), sorted(env.items())], default=str
    ).decode()
    if key not in _validated:
        validate_recipients(settings.recipients, environ=environ)
        _validated.add(key)


def _plan_and_write(
    engine: Engine,
    settings: Settings,
    provider_id: str,
    *,
    now: datetime,
    today: date,
    report: NotifyReport,
    coaches: Sequence[CoachPayload] | None = None,
) -> None:
    run = _plan(engine, settings, provider_id=provider_id, today=today, now=now)
    report.suppressed += len(run.result.suppressed)
    report.held += len(run.result.held)
    report.suppressed_items += _suppressed_items(run)
    staff = _coaches(engine, {provider_id}) if coaches is None else list(coaches)
    router = Router(settings.recipients, staff)
    _write_ahead(engine, run, router, now=now, today=today, report=report)


def _notify_rest(
    settings: Settings,
    planned: Mapping[str, AlertPlanSummary],
    *,
    now: datetime,
    environ: Mapping[str, str] | None,
    hook: Hook | None,
) -> NotifyReport:
    """notify after the checks planned ``planned``: the other providers, the reminder,
    then delivery; the report adds up the checks' counts."""
    today = _today(now, settings)
    report = NotifyReport()
    for done in planned.values():
        report.planned += done.planned
        report.cancelled += done.cancelled
        report.suppressed += done.suppressed
        report.held += done.held
        report.unroutable += done.unroutable
    engine = shared_engine(settings.database.url)
    scope = {p.id for p in settings.providers}
    coaches = _coaches(engine, scope)
    validate_recipients(
        settings.recipients,
        known_coach_ids={c.id for c in coaches} if coaches else None,
        environ=environ,
    )
    for provider_id in sorted(scope - set(planned)):  # their checks failed or did not plan
        _plan_and_write(engine, settings, provider_id, now=now, today=today, report=report)
    with read_scope(engine) as session:
        run = plan_reminder(
            session=session,
            today=today,
            settings=policy_settings(settings.alerts),
            calendar=FinnishCalendar(),
        )
    _write_ahead(engine, run, Router(settings.recipients), now=now, today=today, report=report)
    _deliver(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    return report


def _suppressed_items(run: RunPlan) -> list[dict[str, object]]:
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


def _deliver(
    settings: Settings,
    *,
    engine: Engine,
    now: datetime,
    today: date,
    report: NotifyReport,
    environ: Mapping[str, str] | None,
    hook: Hook | None,
) -> None:
    """Deliver what is ready, tell operations of stuck recipients, count what is left."""
    deliver_ready(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    _tell_operations(settings, engine=engine, now=now, today=today, report=report)
    deliver_ready(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    lease = timedelta(minutes=settings.alerts.claim_lease_minutes)
    with read_scope(engine) as session:
        report.pending = ledger.count_open(session=session) + report.held
        report.possible_duplicates = ledger.possible_duplicates(
            session=session, now=now, lease=lease
        )


def deliver_ready(
    settings: Settings,
    *,
    engine: Engine,
    now: datetime,
    today: date,
    report: NotifyReport,
    environ: Mapping[str, str] | None = None,
    hook: Hook | None = None,
) -> None:
    """Claim, send and record every target that has ledger rows ready."""
    lease = timedelta(minutes=settings.alerts.claim_lease_minutes)
    targets = all_targets(settings)
    with read_scope(engine) as session:
        keys = ledger.claimable_targets(session=session, now=now, lease=lease)
    for key in keys:
        target = targets.get(key)
        with session_scope(engine) as session:
            claimed = ledger.claim(
                session=session,
                target_key=key,
                target_label=target.label if target else key,
                now=now,
                lease=lease,
            )
        if claimed is None:  # another run owns them
            continue
        if hook:
            hook("claimed", key)
        if target is None:
            result = DeliveryResult(ok=False, error=f"{key}: recipient no longer configured")
        else:
            message = render_stored_digest(
                [a.item for a in claimed.alerts],
                language=target.language,
                max_items=settings.alerts.digest_max_items,
                today=today,
            )
            result = deliver(target, message, environ=environ)
        if hook:
            hook("delivered", key)
        with session_scope(engine) as session:
            ledger.record_result(
                session=session,
                claimed=claimed,
                ok=result.ok,
                services=result.services,
                error=result.error,
                log=result.log,
                now=now,
                retry_base_minutes=settings.alerts.retry_base_minutes,
            )
        report.digests += 1
        if result.ok:
            report.sent += len(claimed.alerts)
            lang = target.language if target else "fi"
            report.by_language[lang] = report.by_language.get(lang, 0) + len(claimed.alerts)
        else:
            report.failed += len(claimed.alerts)
            report.errors.append(result.error or f"{key}: delivery failed")
        if hook:
            hook("recorded", key)


def _operations_alert(
    *, provider_id: str, rule: str, subject: str, reason: str, today: date
) -> PlannedAlert:
    deadline = Deadline(
        subject_kind="provider",
        subject=subject,
        rule=rule,
        status=Status.BREACHED,
        explanation=(reason,),
    )
    key = f"{provider_id}|provider|{subject}|{rule}|-|{rule.lower()}-{today.isoformat()}"
    return PlannedAlert(
        key=key,
        provider_id=provider_id,
        deadline=deadline,
        stage=f"{rule.lower()}-{today.isoformat()}",
        audience=frozenset({"owner"}),
        urgent=True,
        days_left=None,
    )


def _tell_operations(
    settings: Settings, *, engine: Engine, now: datetime, today: date, report: NotifyReport
) -> None:
    """One DELIVERY-FAILED alert per failing recipient per day, after repeated failures."""
    max_attempts = settings.alerts.max_attempts_before_operations
    router = Router(settings.recipients)
    with session_scope(engine) as session:
        stuck = ledger.needs_operations(session=session, max_attempts=max_attempts)
        by_recipient: dict[str, list[Alert]] = {}
        for row in stuck:
            by_recipient.setdefault(row.recipient_key, []).append(row)
        rows: list[dict[str, object]] = []
        for recipient_key, failed in by_recipient.items():
            reason = (
                f"{len(failed)} alert(s) to {recipient_key} undelivered after "
                f"{max(r.attempts for r in failed)} attempts; last error: {failed[-1].last_error}"
            )
            alert = _operations_alert(
                provider_id=failed[0].provider_id,
                rule="DELIVERY-FAILED",
                subject=recipient_key,
                reason=reason,
                today=today,
            )
            rows += _rows([alert], router, now=now, today=today, report=report)
        if rows:
            report.operations_told += ledger.write_alerts(session=session, rows=rows)
        ledger.mark_operations_notified(session=session, ids=[r.id for r in stuck if r.id])


def notify_operations(
    settings: Settings,
    *,
    now: datetime,
    provider_id: str,
    rule: str,
    subject: str,
    reason: str,
    environ: Mapping[str, str] | None = None,
) -> NotifyReport:
    """Tell operations about a sync or delivery failure (once per subject, rule and day).

    ``reason`` must hold no secret or personal data (pass masked, readable text).
    """
    today = _today(now, settings)
    report = NotifyReport()
    engine = shared_engine(settings.database.url)
    alert = _operations_alert(
        provider_id=provider_id, rule=rule, subject=subject, reason=reason, today=today
    )
    rows = _rows([alert], Router(settings.recipients), now=now, today=today, report=report)
    with session_scope(engine) as session:
        report.planned = ledger.write_alerts(session=session, rows=rows)
    deliver_ready(settings, engine=engine, now=now, today=today, report=report, environ=environ)
    return report
