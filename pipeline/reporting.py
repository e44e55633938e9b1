"""The daily and weekly compliance reports, from the stored current deadlines.

:func:`report_step` writes one self-contained HTML file under ``reports_dir`` (per office:
breached, due soon, met late; the breach history chart; acknowledgements and silences in
force; provisional parameters) and returns its headline numbers.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlmodel import Session

from core.config import load_settings
from core.errors import InputError
from models.alerting import DeadlineRecord, QuietDeadlineSet
from models.db import read_scope, shared_engine
from models.deadlines import load_current_deadlines
from models.ledger import suppression_records
from pipeline.report import AcknowledgedRow, HistoryPoint, build_report, render_html
from pipeline.rows import ProvisionalRow, provisional_rows
from rules.deadline import Deadline, Status

log = logging.getLogger("vahti.reports")


def current_deadlines(*, session: Session, provider_id: str) -> list[Deadline]:
    """The provider's stored current deadlines (as of their last evaluation)."""
    return [
        item.deadline for item in load_current_deadlines(session=session, provider_id=provider_id)
    ]


def acknowledged_rows(
    *, session: Session, provider_ids: Sequence[str], today: date, days: int = 7
) -> list[AcknowledgedRow]:
    """Acknowledgements and silences in force on ``today``, and those revoked in the last
    ``days`` days, for these providers: who, why, until when."""
    since = datetime.combine(today - timedelta(days=days), time(0), tzinfo=UTC)
    return [
        AcknowledgedRow(
            provider_id=s.provider_id or "(all)",
            kind=s.kind,
            subject=s.subject,
            rule=s.rule,
            reason=s.reason,
            until_on=s.until_on.isoformat() if s.until_on else None,
            by=s.by,
            revoked=(
                f"{s.revoked_at.date().isoformat()} by {s.revoked_by}: {s.revoke_reason}"
                if s.revoked_at is not None
                else None
            ),
        )
        for s in suppression_records(session=session, today=today, since=since)
        if s.provider_id is None or s.provider_id in provider_ids
    ]


def breach_history(
    *, session: Session, provider_ids: Sequence[str], today: date, days: int
) -> list[HistoryPoint]:
    """Breached deadlines per day over the last ``days`` days, in all and per office, from
    the deadline history.

    A history row holds from its ``evaluated_on`` until its ``superseded_on``; a day
    before the first evaluation is left out rather than shown as zero.
    """
    start = today - timedelta(days=days - 1)
    table = DeadlineRecord.__table__  # type: ignore[attr-defined]
    breached = [Status.BREACHED.value]  # breached then; met late is not a breach that day
    spans = session.execute(
        select(
            table.c.evaluated_on, table.c.superseded_on, table.c.provider_id, table.c.office_id
        ).where(
            table.c.provider_id.in_(list(provider_ids)),
            table.c.status.in_(breached),
            table.c.evaluated_on <= today,
            or_(table.c.superseded_on.is_(None), table.c.superseded_on > start),
        )
    ).all()
    firsts = [
        session.execute(
            select(func.min(t.c.evaluated_on)).where(t.c.provider_id.in_(list(provider_ids)))
        ).scalar()
        for t in (table, QuietDeadlineSet.__table__)  # type: ignore[attr-defined]
    ]
    known = [on for on in firsts if on is not None]
    if not known:
        return []
    first = min(known)
    points = []
    for offset in range(days):
        on = start + timedelta(days=offset)
        if on < first:
            continue
        held = Counter(
            (pid, office or "-")
            for ev, sup, pid, office in spans
            if ev <= on and (sup is None or sup > on)
        )
        points.append(
            HistoryPoint(
                on=on.isoformat(),
                breached=sum(held.values()),
                by_office=tuple((pid, office, n) for (pid, office), n in sorted(held.items())),
            )
        )
    return points


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


#: Days of breach history in the chart, per report kind (the weekly one: 12 weeks, a bar
#: a week).
HISTORY_DAYS = {"daily": 14, "weekly": 84}


def per_week(points: Sequence[HistoryPoint]) -> list[HistoryPoint]:
    """One point an ISO week: its last known day's count, labelled with the week."""
    weeks: dict[str, HistoryPoint] = {}
    for point in sorted(points, key=lambda p: p.on):
        year, week, _ = date.fromisoformat(point.on).isocalendar()
        label = f"{year}-W{week:02d}"
        weeks[label] = HistoryPoint(on=label, breached=point.breached, by_office=point.by_office)
    return list(weeks.values())


def report_step(config_path: str, today_on: str, *, kind: str = "weekly") -> ReportSummary:
    """Write the daily or weekly compliance report under ``reports_dir``."""
    if kind not in ("daily", "weekly"):
        raise InputError(f"report kind {kind!r}: use 'daily' or 'weekly'")
    settings = load_settings(Path(config_path))
    today = date.fromisoformat(today_on)
    ids = [p.id for p in settings.providers]
    pairs: list[tuple[str, Deadline]] = []
    provisional: list[ProvisionalRow] = []
    with read_scope(shared_engine(settings.database.url)) as session:
        for provider in settings.providers:
            deadlines = current_deadlines(session=session, provider_id=provider.id)
            pairs.extend((provider.id, d) for d in deadlines)
            packs = {d.pack_id for d in deadlines if d.pack_id}
            provisional.extend(provisional_rows(packs, provider.overrides, provider.id))
        acknowledged = acknowledged_rows(session=session, provider_ids=ids, today=today)
        days = HISTORY_DAYS[kind]
        history = breach_history(session=session, provider_ids=ids, today=today, days=days)
    if kind == "weekly":
        history = per_week(history)
    quality = settings.recipients.quality
    language = quality[0].language if quality else "en"
    data = build_report(
        "weekly" if kind == "weekly" else "daily",
        today,
        pairs,
        acknowledged=acknowledged,
        provisional=provisional,
        history=history,
        language=language,
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
