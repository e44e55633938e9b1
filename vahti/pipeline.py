"""The plain steps Vahti's flows are made of: plain values in, small plain values out.

Each Prefect task in ``flows/`` wraps exactly one function here. A step opens what it
needs itself (settings, database engine, HTTP client, Apprise) from the configuration
path it is given and closes it before returning, so tasks stay cacheable, retryable
and cheap to ship between processes. Results are summaries: counts, plus at most
:data:`ROW_CAP` rows for the operator tables, never whole datasets and never
personal data (case references, rule ids, dates and the engine's reasons only).
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, or_, select
from sqlmodel import Session

import rules
from models.alerting import DeadlineRecord
from models.db import session_scope, shared_engine
from models.reads import list_rejected, load_audits, load_cases, load_coaches
from notifications.deadlines import (
    load_current_deadlines,
    store_deadlines,
    top_current_deadlines,
)
from notifications.delivery import deliver
from notifications.ledger import active_suppressions
from notifications.messages import Message
from notifications.routing import targets_of
from notifications.service import notify
from providers.sync import sync_provider
from rules.deadline import BREACH_STATUSES, Deadline, Status
from vahti.config import Settings, load_settings
from vahti.errors import DeliveryError, InputError, ProviderError
from vahti.incremental import evaluate_and_store
from vahti.report import AcknowledgedRow, HistoryPoint, build_report, render_html
from vahti.rows import DeadlineRow, ProvisionalRow, RejectedRow, deadline_row, provisional_rows

log = logging.getLogger("vahti.pipeline")

#: Rows per operator table returned by a step; the counts always cover everything.
ROW_CAP = 200
#: Provider steps (sync, evaluate) working at once in one process. Prefect's thread
#: pool starts every submitted task at once (no limit by default), so 200 providers
#: would hold 200 pages in memory and queue 200 writers on one SQLite file; the work is
#: bound by one core (the GIL) anyway, and 3 overlap the provider's network time.
STEP_SLOTS = int(os.environ.get("VAHTI_STEP_SLOTS", "3"))
_slots = threading.BoundedSemaphore(max(1, STEP_SLOTS))


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What one provider's sync fetched and stored."""

    provider_id: str
    fetched: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_rows: tuple[RejectedRow, ...] = ()


@dataclass(frozen=True, slots=True)
class EvaluationSummary:
    """One provider's deadlines on one day: counts by status and the rows that matter."""

    provider_id: str
    evaluated_on: str
    subjects: int
    by_status: dict[str, int]
    breached_total: int
    due_soon_total: int
    breached: tuple[DeadlineRow, ...] = ()
    due_soon: tuple[DeadlineRow, ...] = ()
    provisional: tuple[ProvisionalRow, ...] = ()
    selected: tuple[DeadlineRow, ...] = ()  # every deadline of the asked case (ad-hoc)
    history_rows: int = 0  # new deadline-history rows written


@dataclass(frozen=True, slots=True)
class NotifySummary:
    """What a notification run delivered."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    pending: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# -- resources ------------------------------------------------------------------------


def settings_from(config_path: str) -> Settings:
    """The settings in ``config_path`` (environment overrides applied)."""
    return load_settings(Path(config_path))


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The store's engine (this process's shared one: migrated when empty, checked once)."""
    yield shared_engine(settings.database.url)


# -- steps ------------------------------------------------------------------------------


def sync_step(config_path: str, provider_id: str, *, full: bool = False) -> SyncSummary:
    """Pull one provider's cases, audits and staff into the store (one of STEP_SLOTS).

    Raises ProviderError naming the provider when the sync did not complete; invalid
    items are not failures (they are stored as rejected payloads and counted).
    """
    with _slots:
        return _sync_step(config_path, provider_id, full=full)


def _sync_step(config_path: str, provider_id: str, *, full: bool) -> SyncSummary:
    settings = settings_from(config_path)
    provider = settings.provider(provider_id)
    report = sync_provider(settings, provider_id, full=full, progress=False)
    data = report.to_json()
    errors = [str(e) for e in _as_list(data.get("errors"))]
    if errors:
        raise ProviderError(
            "sync failed: " + "; ".join(errors), provider=provider_id, url=provider.base_url
        )
    rejected_rows: tuple[RejectedRow, ...] = ()
    if _int(data.get("rejected")):
        with open_engine(settings) as engine, session_scope(engine) as session:
            rejected = list_rejected(session=session, provider_id=provider_id, limit=ROW_CAP)
            rejected_rows = tuple(
                RejectedRow(kind=item.kind, ref=item.ref, errors=tuple(item.errors))
                for item in rejected
            )
    return SyncSummary(
        provider_id=provider_id,
        fetched=_int(data.get("fetched")),
        stored=_int(data.get("stored")),
        unchanged=_int(data.get("unchanged")),
        rejected=_int(data.get("rejected")),
        rejected_rows=rejected_rows,
    )


def evaluate_step(
    config_path: str,
    provider_id: str,
    today_on: str,
    *,
    store: bool = True,
    case_ref: str | None = None,
    explain: bool = False,
) -> EvaluationSummary:
    """Evaluate one provider's stored open subjects on ``today_on``; store the deadlines.

    ``store=False`` computes without writing anything (ad-hoc dry runs, what-ifs);
    ``case_ref`` narrows the result to one case (every subject is still evaluated so
    staff and audit rules see the whole provider). One of STEP_SLOTS at a time.
    """
    with _slots:
        return _evaluate_step(
            config_path, provider_id, today_on, store=store, case_ref=case_ref, explain=explain
        )


def _evaluate_step(
    config_path: str,
    provider_id: str,
    today_on: str,
    *,
    store: bool = True,
    case_ref: str | None = None,
    explain: bool = False,
) -> EvaluationSummary:
    settings = settings_from(config_path)
    provider = settings.provider(provider_id)
    today = date.fromisoformat(today_on)
    if store and case_ref is None:  # the scheduled path: only what can have changed
        with open_engine(settings) as engine:
            outcome = evaluate_and_store(
                engine=engine, settings=settings, provider_id=provider_id, today=today
            )
            with session_scope(engine) as session:
                return summarize_stored(
                    session=session,
                    provider_id=provider_id,
                    today=today,
                    overrides=provider.overrides,
                    history_rows=outcome.written,
                )
    with open_engine(settings) as engine, session_scope(engine) as session:
        deadlines = evaluate_stored(
            session=session, settings=settings, provider_id=provider_id, today=today
        )
        written = 0
        if store:
            result = store_deadlines(
                session=session,
                provider_id=provider_id,
                deadlines=deadlines,
                evaluated_on=today,
                retire_missing=True,
            )
            written = result.new + result.changed
    selected: tuple[DeadlineRow, ...] = ()
    if case_ref is not None:
        deadlines = [d for d in deadlines if d.subject == case_ref]
        if not deadlines:
            raise InputError(f"provider {provider_id!r}: no open case {case_ref!r} in the store")
        selected = tuple(deadline_row(provider_id, d, explain=explain) for d in deadlines)
    summary = summarize(
        provider_id,
        today,
        deadlines,
        subjects=len({(d.subject_kind, d.subject) for d in deadlines}),
        overrides=provider.overrides,
        history_rows=written,
        explain=explain,
    )
    return replace(summary, selected=selected)


def notify_step(
    config_path: str, now_at: str, *, dry_run: bool = False, provider_id: str | None = None
) -> NotifySummary:
    """Plan and deliver the alerts due at ``now_at`` (an aware ISO timestamp)."""
    settings = settings_from(config_path)
    now = datetime.fromisoformat(now_at)
    report = notify(settings, now=now, dry_run=dry_run, provider_id=provider_id)
    return NotifySummary(
        sent=report.sent,
        failed=report.failed,
        suppressed=report.suppressed,
        pending=report.pending,
        by_language=dict(report.by_language),
        dry_run=dry_run,
    )


def evaluate_stored(
    *, session: Session, settings: Settings, provider_id: str, today: date
) -> list[Deadline]:
    """Run the engine over one provider's stored open cases, audits and staff."""
    provider = settings.provider(provider_id)
    cases = load_cases(session=session, provider_id=provider_id, today=today)
    audits = load_audits(session=session, provider_id=provider_id)
    staff = load_coaches(session=session, provider_id=provider_id)
    pack = rules.get_pack(settings.pack) if settings.pack else None
    return rules.evaluate(
        cases,
        audits,
        staff,
        pack,
        today,
        rules.FinnishCalendar(),
        overrides=dict(provider.overrides) or None,
        provider_id=provider_id,
    )


def current_deadlines(*, session: Session, provider_id: str) -> list[Deadline]:
    """The provider's stored current deadlines (as of their last evaluation)."""
    return [
        item.deadline for item in load_current_deadlines(session=session, provider_id=provider_id)
    ]


def acknowledged_rows(
    *, session: Session, provider_ids: Sequence[str], today: date
) -> list[AcknowledgedRow]:
    """Acknowledgements and silences in force on ``today`` for these providers."""
    return [
        AcknowledgedRow(
            provider_id=s.provider_id or "(all)",
            kind=s.kind,
            subject=s.subject,
            rule=s.rule,
            reason=s.reason,
            until_on=s.until_on.isoformat() if s.until_on else None,
        )
        for s in active_suppressions(session=session, today=today)
        if s.provider_id is None or s.provider_id in provider_ids
    ]


def breach_history(
    *, session: Session, provider_ids: Sequence[str], today: date, days: int
) -> list[HistoryPoint]:
    """Breached deadlines per day over the last ``days`` days, from the deadline history.

    A history row holds from its ``evaluated_on`` until its ``superseded_on``; a day
    before the first evaluation is left out rather than shown as zero.
    """
    start = today - timedelta(days=days - 1)
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    breached = [s.value for s in BREACH_STATUSES]
    spans = session.execute(
        select(table.c.evaluated_on, table.c.superseded_on).where(
            table.c.provider_id.in_(list(provider_ids)),
            table.c.status.in_(breached),
            table.c.evaluated_on <= today,
            or_(table.c.superseded_on.is_(None), table.c.superseded_on > start),
        )
    ).all()
    first = session.execute(
        select(func.min(table.c.evaluated_on)).where(table.c.provider_id.in_(list(provider_ids)))
    ).scalar()
    if first is None:
        return []
    points = []
    for offset in range(days):
        on = start + timedelta(days=offset)
        if on < first:
            continue
        count = sum(1 for ev, sup in spans if ev <= on and (sup is None or sup > on))
        points.append(HistoryPoint(on=on.isoformat(), breached=count))
    return points


# -- summaries --------------------------------------------------------------------------


def summarize_stored(
    *,
    session: Session,
    provider_id: str,
    today: date,
    overrides: dict[str, float | int | bool | None] | None = None,
    history_rows: int = 0,
) -> EvaluationSummary:
    """:func:`summarize` of the provider's stored current deadlines (counted in SQL)."""
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    mine = (table.c.provider_id == provider_id) & table.c.is_current.is_(True)
    counted = select(table.c.status, func.count()).where(mine).group_by(table.c.status)
    by_status = {str(status): int(n) for status, n in session.execute(counted)}
    subjects = select(table.c.subject_kind, table.c.subject).where(mine).distinct().subquery()
    packs = set(session.scalars(select(table.c.pack_id).where(mine).distinct()))
    breached_total, breached = top_current_deadlines(
        session=session,
        provider_id=provider_id,
        statuses=BREACH_STATUSES,
        today=today,
        limit=ROW_CAP,
    )
    due_soon_total, due_soon = top_current_deadlines(
        session=session,
        provider_id=provider_id,
        statuses=(Status.DUE_SOON, Status.AT_RISK),
        today=today,
        limit=ROW_CAP,
    )
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        subjects=int(session.execute(select(func.count()).select_from(subjects)).scalar_one()),
        by_status=dict(sorted(by_status.items())),
        breached_total=breached_total,
        due_soon_total=due_soon_total,
        breached=tuple(deadline_row(provider_id, d) for d in breached),
        due_soon=tuple(deadline_row(provider_id, d) for d in due_soon),
        provisional=provisional_rows({p for p in packs if p}, overrides or {}, provider_id),
        history_rows=history_rows,
    )


def summarize(
    provider_id: str,
    today: date,
    deadlines: Sequence[Deadline],
    *,
    subjects: int,
    overrides: dict[str, float | int | bool | None] | None = None,
    history_rows: int = 0,
    explain: bool = False,
) -> EvaluationSummary:
    """Counts by status, the breached and due-soon rows (capped) and provisional params."""
    by_status = Counter(d.status.value for d in deadlines)
    breached = [d for d in deadlines if d.status in BREACH_STATUSES]
    due_soon = [d for d in deadlines if d.status in (Status.DUE_SOON, Status.AT_RISK)]
    breached.sort(key=lambda d: (d.due_on or today, d.subject, d.rule))
    due_soon.sort(key=lambda d: (d.due_on or today, d.subject, d.rule))
    return EvaluationSummary(
        provider_id=provider_id,
        evaluated_on=today.isoformat(),
        subjects=subjects,
        by_status=dict(sorted(by_status.items())),
        breached_total=len(breached),
        due_soon_total=len(due_soon),
        breached=tuple(deadline_row(provider_id, d, explain=explain) for d in breached[:ROW_CAP]),
        due_soon=tuple(deadline_row(provider_id, d, explain=explain) for d in due_soon[:ROW_CAP]),
        provisional=provisional_rows(
            {d.pack_id for d in deadlines if d.pack_id}, overrides or {}, provider_id
        ),
        history_rows=history_rows,
    )


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


# -- reports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """Where the report was written and its headline numbers."""

    kind: str
    path: str
    generated_on: str
    offices: int
    totals: dict[str, int]
    acknowledged: int
    provisional: int


#: Days of breach history in the chart, per report kind.
HISTORY_DAYS = {"daily": 14, "weekly": 56}


def report_step(config_path: str, today_on: str, *, kind: str = "weekly") -> ReportSummary:
    """Write the daily or weekly compliance report under ``reports_dir``."""
    if kind not in ("daily", "weekly"):
        raise InputError(f"report kind {kind!r}: use 'daily' or 'weekly'")
    settings = settings_from(config_path)
    today = date.fromisoformat(today_on)
    ids = [p.id for p in settings.providers]
    pairs: list[tuple[str, Deadline]] = []
    provisional: list[ProvisionalRow] = []
    with open_engine(settings) as engine, session_scope(engine) as session:
        for provider in settings.providers:
            deadlines = current_deadlines(session=session, provider_id=provider.id)
            pairs.extend((provider.id, d) for d in deadlines)
            packs = {d.pack_id for d in deadlines if d.pack_id}
            provisional.extend(provisional_rows(packs, provider.overrides, provider.id))
        acknowledged = acknowledged_rows(session=session, provider_ids=ids, today=today)
        days = HISTORY_DAYS[kind]
        history = breach_history(session=session, provider_ids=ids, today=today, days=days)
    data = build_report(
        "weekly" if kind == "weekly" else "daily",
        today,
        pairs,
        acknowledged=acknowledged,
        provisional=provisional,
        history=history,
    )
    target = Path(settings.reports_dir) / f"vahti-{kind}-{today.isoformat()}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(data), encoding="utf-8")
    log.info("%s report written: %d office(s), %s", kind, len(data.offices), data.totals)
    return ReportSummary(
        kind=kind,
        path=str(target),
        generated_on=data.generated_on,
        offices=len(data.offices),
        totals=data.totals,
        acknowledged=len(data.acknowledged),
        provisional=len(data.provisional),
    )


# -- operations -------------------------------------------------------------------------


def alert_operations_step(config_path: str, title: str, body: str) -> int:
    """Send one plain message to every operations recipient; return how many accepted it.

    Raises DeliveryError when there are operations recipients and none accepted it.
    """
    settings = settings_from(config_path)
    targets = [
        target
        for index, recipient in enumerate(settings.recipients.operations)
        for target in targets_of(f"operations:{recipient.name or index}", "operations", recipient)
    ]
    if not targets:
        log.warning("no operations recipients configured: %s", title)
        return 0
    delivered = 0
    errors: list[str] = []
    for target in targets:
        message = Message(
            title=title,
            markdown=body,
            html=f"<p>{html.escape(body)}</p>",
            text=body,
            language=target.language,
        )
        result = deliver(target, message)
        if result.ok:
            delivered += 1
        else:
            errors.append(result.error or target.label)
    if delivered == 0:
        raise DeliveryError("operations alert not delivered: " + "; ".join(errors))
    return delivered
