"""One notification run's plan: which deadlines to look at, the policy, the daily reminder.

A run reads only what can have something new to say (:func:`plan_candidates`): rows not
yet planned, rows inside the warning window, rows named by undelivered ledger entries
or by suppressions. It reads the ledger entries of just those rows' keys, plus every
undelivered entry, and runs the pure policy over them. After the write-ahead commit
the rows whose alerts are now in the ledger (or that need none) are marked planned;
rows with alerts held for the send window, suppressed or without a recipient stay
unplanned and are planned again by the next run. So a run's cost follows what changed
and what is near its due date, not the number of deadlines stored.

The daily breach reminder (:mod:`notifications.reminder`) is planned here too: on a
working day, in a run over every provider, one reminder of the breaches still open. So
is a catching-up provider's backlog summary (its first check, or its first after an
outage: ``policy.catching_up``), built the same way from the policy's ``backlog``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlmodel import Session

from models import ledger
from models.candidates import (
    BreachedRef,
    Candidates,
    breached_refs,
    hydrate,
    plan_candidates,
    seen_providers,
)
from models.ledger import BACKLOG_RULE, REMINDER_RULE, Suppression
from notifications.policy import (
    PlannedAlert,
    PolicyResult,
    PolicySettings,
    catching_up,
    dedup_key,
    ledger_keys,
    plan,
)
from notifications.reminder import Reminder, still_breached, summarize_breaches
from rules.calendar import FinnishCalendar
from rules.deadline import Deadline, ProviderDeadline, Status

Identity = tuple[str, str, str, str]  # provider, subject kind, subject, rule
#: The reminder's provider in the ledger: it covers every provider of the run.
ALL_PROVIDERS = "*"


def identity(item: ProviderDeadline | PlannedAlert) -> Identity:
    d = item.deadline
    return (item.provider_id, d.subject_kind, d.subject, d.rule)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """The policy's result for the candidates, the reminder, and what stays unplanned."""

    result: PolicyResult
    candidates: Candidates
    reminder: PlannedAlert | None = None  # the day's breach reminder, when one is due
    summary: Reminder | None = None  # what the reminder says
    stale_reminders: tuple[str, ...] = ()  # undelivered reminders of earlier days
    backlog: tuple[tuple[PlannedAlert, Reminder], ...] = ()  # a summary per catching-up provider

    def settled_ids(self, unroutable: set[Identity]) -> list[int]:
        """Candidate rows to mark planned: all but the held, suppressed and unroutable."""
        waiting = {identity(a) for a in self.result.held} | unroutable
        waiting |= {identity(s.alert) for s in self.result.suppressed}
        return [row_id for row_id, item in self.candidates.items() if identity(item) not in waiting]


def plan_run(
    *,
    session: Session,
    provider_id: str | None,
    today: date,
    now: datetime,
    settings: PolicySettings,
    calendar: FinnishCalendar,
) -> RunPlan:
    """Read the candidates and their ledger entries, run the policy, add the reminder."""
    suppressions = ledger.active_suppressions(session=session, today=today)
    candidates = plan_candidates(
        session=session,
        provider_id=provider_id,
        today=today,
        window_days=max(settings.lead_days, default=0),
        suppressions=suppressions,
    )
    items = list(candidates.values())
    scope = {provider_id} if provider_id is not None else {item.provider_id for item in items}
    seen = seen_providers(session=session, provider_ids=scope, before=today)
    behind = {
        pid
        for pid in scope
        if catching_up(
            seen_before=pid in seen,
            outage_since=ledger.outage_since(session=session, provider_id=pid),
        )
    }
    entries = ledger.open_entries(session=session, provider_id=provider_id)
    entries.update(
        ledger.entries_for_keys(
            session=session, keys=ledger_keys(items, today=today, settings=settings)
        )
    )
    result = _hydrated(
        session,
        candidates,
        plan(
            items,
            ledger=entries,
            suppressions=suppressions,
            today=today,
            now=now,
            settings=settings,
            is_working_day=calendar.is_working_day,
            catching_up=behind,
        ),
    )
    run = RunPlan(
        result=result, candidates=candidates, backlog=backlog_summaries(result.backlog, today=today)
    )
    if provider_id is not None:
        return run
    alerted = {
        identity(item)
        for item in items
        if item.deadline.status is Status.BREACHED
        and dedup_key(item.provider_id, item.deadline, "breach") in result.wanted
    }
    return _with_reminder(
        run,
        session=session,
        today=today,
        settings=settings,
        calendar=calendar,
        alerted=alerted,
        suppressions=suppressions,
    )


def plan_reminder(
    *, session: Session, today: date, settings: PolicySettings, calendar: FinnishCalendar
) -> RunPlan:
    """The day's reminder alone, once every provider's alerts are in the ledger.

    The compliance check plans each provider's alerts in that provider's check
    (``provider_id`` runs of :func:`plan_run`); its notify adds the reminder. A breach
    alerted in this run, or still waiting from an earlier one, has an undelivered breach
    alert in the ledger: those are the ones :func:`plan_run` leaves out as ``alerted``.
    """
    return _with_reminder(
        RunPlan(result=PolicyResult(), candidates={}),
        session=session,
        today=today,
        settings=settings,
        calendar=calendar,
        alerted=ledger.open_breaches(session=session),
        suppressions=ledger.active_suppressions(session=session, today=today),
    )


def _with_reminder(
    run: RunPlan,
    *,
    session: Session,
    today: date,
    settings: PolicySettings,
    calendar: FinnishCalendar,
    alerted: set[Identity],
    suppressions: list[Suppression],
) -> RunPlan:
    """``run`` with the day's reminder of the breaches not ``alerted`` (working days only)."""
    if not settings.breach_repeat or not calendar.is_working_day(today):
        return run
    remind = still_breached(
        breached_refs(session=session, before=today),
        alerted=alerted,
        suppressions=suppressions,
        today=today,
    )
    summary = summarize_breaches(remind) if remind else None
    return replace(
        run,
        reminder=reminder_alert(summary, today=today) if summary else None,
        summary=summary,
        stale_reminders=tuple(ledger.stale_reminders(session=session, stage=reminder_stage(today))),
    )


def _hydrated(session: Session, candidates: Candidates, result: PolicyResult) -> PolicyResult:
    """The result with the whole deadline (reasons, link) in every alert it sends now.

    The unplanned candidates were read whole (most of them alert); the others were read
    narrow, without reasons, and are read again whole here when they alert. Every
    evaluated deadline has at least one reason, so a deadline without any is a narrow one
    (read again at worst).
    """
    row_of = {identity(item): row_id for row_id, item in candidates.items()}
    narrow = [a for a in result.due if not a.deadline.explanation]
    if not narrow:
        return result
    full = hydrate(session=session, ids=[row_of[identity(a)] for a in narrow])
    due = tuple(
        replace(alert, deadline=full[row_of[identity(alert)]].deadline)
        if not alert.deadline.explanation
        else alert
        for alert in result.due
    )
    return replace(result, due=due)


def backlog_summaries(
    backlog: tuple[PlannedAlert, ...], *, today: date
) -> tuple[tuple[PlannedAlert, Reminder], ...]:
    """One summary alert to quality staff per provider with backlog breaches."""
    by_provider: dict[str, list[BreachedRef]] = {}
    for alert in backlog:
        d = alert.deadline
        ref = BreachedRef(
            alert.provider_id, d.subject_kind, d.subject, d.rule, d.office_id, d.due_on
        )
        by_provider.setdefault(alert.provider_id, []).append(ref)
    notes = []
    for provider_id, refs in sorted(by_provider.items()):
        summary = summarize_breaches(refs, newest_first=True)
        deadline = Deadline(
            subject_kind="provider",
            subject=provider_id,
            rule=BACKLOG_RULE,
            status=Status.BREACHED,
            count=summary.total,
            explanation=(f"{summary.total} breached deadline(s) older than the backlog age",),
        )
        stage = f"backlog-{today.isoformat()}"
        alert = PlannedAlert(
            key=dedup_key(provider_id, deadline, stage),
            provider_id=provider_id,
            deadline=deadline,
            stage=stage,
            audience=frozenset({"quality"}),
            urgent=False,
            days_left=None,
        )
        notes.append((alert, summary))
    return tuple(notes)


def reminder_stage(today: date) -> str:
    return f"breach-repeat-{today.isoformat()}"


def reminder_alert(reminder: Reminder, *, today: date) -> PlannedAlert:
    """The day's reminder as one alert to quality staff (one ledger row per recipient URL)."""
    stage = reminder_stage(today)
    deadline = Deadline(
        subject_kind="provider",
        subject="all",
        rule=REMINDER_RULE,
        status=Status.BREACHED,
        count=reminder.total,
        explanation=(f"{reminder.total} breached deadline(s) still open",),
    )
    return PlannedAlert(
        key=dedup_key(ALL_PROVIDERS, deadline, stage),
        provider_id=ALL_PROVIDERS,
        deadline=deadline,
        stage=stage,
        audience=frozenset({"quality"}),
        urgent=True,
        days_left=None,
    )
