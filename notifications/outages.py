"""Provider outages to operations: one alert when a provider's check first fails, one
reminder a day while it keeps failing, one "resolved" note when it answers again.

Through the same ledger and dedup as every other alert: a failure's dedup key holds the
day and the outage's start (the first alert, then the daily reminder; the hourly checks in
between add nothing), the resolved note's the outage's start (once per outage). The outage
starts at its first SYNC-FAILED row after the provider's last SYNC-RESOLVED row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.config import Settings
from models import ledger
from models.db import read_scope, session_scope, shared_engine
from notifications.counts import NotifyReport
from notifications.dispatch import deliver_ready, operations_alert
from notifications.policy import PlannedAlert
from notifications.routing import Router
from notifications.write_ahead import ledger_rows, local_today


def _outage(started: datetime) -> str:
    """An outage's id in its dedup keys: when it started, in UTC (the stage has 40 chars)."""
    return started.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def _at(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.alerts.timezone)).strftime("%Y-%m-%d %H:%M")


def outage_alerts(
    settings: Settings,
    *,
    now: datetime,
    failed: Mapping[str, str],
    answering: Sequence[str],
    since: Mapping[str, datetime],
) -> list[PlannedAlert]:
    """The alerts this check owes operations: a failure (or the day's reminder) for each
    ``failed`` provider (id -> one-line error, its class first), a resolved note for each
    ``answering`` provider with an outage ``since`` a moment. Pure."""
    today = local_today(now, settings)
    alerts = []
    for provider_id, error in sorted(failed.items()):
        started = since.get(provider_id)
        if started is None:
            started = now
            reason = f"provider {provider_id!r} failing since {_at(now, settings)}: {error}"
        else:
            reason = (
                f"provider {provider_id!r} still failing since {_at(started, settings)}: {error}"
            )
        alerts.append(
            operations_alert(
                provider_id=provider_id,
                rule=ledger.OUTAGE_RULE,
                subject=provider_id,
                reason=reason,
                today=today,
                stage=f"sync-failed-{today.isoformat()}-{_outage(started)}",
            )
        )
    for provider_id in sorted(set(answering) & set(since)):
        started = since[provider_id]
        reason = (
            f"provider {provider_id!r} answers again: failing from {_at(started, settings)} "
            f"until {_at(now, settings)}"
        )
        alerts.append(
            operations_alert(
                provider_id=provider_id,
                rule=ledger.OUTAGE_RESOLVED_RULE,
                subject=provider_id,
                reason=reason,
                today=today,
                stage=f"sync-resolved-{_outage(started)}",
            )
        )
    return alerts


def tell_outages(
    settings: Settings,
    *,
    now: datetime,
    failed: Mapping[str, str],
    answering: Sequence[str],
) -> NotifyReport:
    """Write this check's outage alerts ahead and deliver them (see the module docstring)."""
    today = local_today(now, settings)
    report = NotifyReport()
    engine = shared_engine(settings.database.url)
    with read_scope(engine) as session:
        since = {
            pid: started
            for pid in (*failed, *answering)
            if (started := ledger.outage_since(session=session, provider_id=pid)) is not None
        }
    alerts = outage_alerts(settings, now=now, failed=failed, answering=answering, since=since)
    if not alerts:
        return report
    rows = ledger_rows(alerts, Router(settings.recipients), now=now, today=today, report=report)
    with session_scope(engine) as session:
        report.planned = ledger.write_alerts(session=session, rows=rows)
    deliver_ready(settings, engine=engine, now=now, today=today, report=report)
    return report
