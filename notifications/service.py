"""``notify``: from the stored current deadlines to delivered digests, through the ledger.

Plans the run's alerts and writes them ahead (:mod:`notifications.write_ahead`), then
delivers (:mod:`notifications.dispatch`). ``dry_run`` plans and writes nothing.

A real run also deletes the rejected provider payloads past their retention
(``database.rejected_retention_days``): notify is the step every schedule runs (the
compliance check's last step, and ``vahti notify``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine

from core.config import Settings
from models import ledger
from models.db import read_scope, session_scope, shared_engine
from models.store import purge_rejected
from notifications.counts import AlertPlanSummary, NotifyReport
from notifications.dispatch import Hook, deliver_run
from notifications.planning import plan_reminder
from notifications.routing import Router, check_recipients
from notifications.write_ahead import (
    batches,
    local_today,
    plan,
    plan_and_write,
    policy_settings,
    staff_of,
    suppressed_items,
    write_ahead,
)
from rules.calendar import FinnishCalendar

log = logging.getLogger("vahti.notifications")


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
    today = local_today(now, settings)
    report = NotifyReport(dry_run=dry_run)
    engine = shared_engine(settings.database.url)
    run = plan(engine, settings, provider_id=provider_id, today=today, now=now)
    result = run.result
    scope = {item.provider_id for item in run.candidates.values()}
    scope |= {p.id for p in settings.providers} | ({provider_id} if provider_id else set())
    coaches = staff_of(engine, scope)
    check_recipients(settings.recipients, coaches=coaches, environ=environ)
    report.suppressed = len(result.suppressed)
    report.held = len(result.held)
    report.suppressed_items = suppressed_items(run)
    router = Router(settings.recipients, coaches)
    if dry_run:
        for rows in batches(run, router, now=now, today=today, report=report, unroutable=set()):
            report.planned += len(rows)
            for row in rows:
                lang = str(row["language"])
                report.by_language[lang] = report.by_language.get(lang, 0) + 1
        with read_scope(engine) as session:
            report.pending = ledger.count_open(session=session) + report.held
        return report
    write_ahead(engine, run, router, now=now, today=today, report=report)
    deliver_run(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    purge_expired_rejected(engine, settings, now=now)
    return report


def purge_expired_rejected(engine: Engine, settings: Settings, *, now: datetime) -> int:
    """Delete rejected payloads older than ``database.rejected_retention_days``."""
    before = now - timedelta(days=settings.database.rejected_retention_days)
    with session_scope(engine) as session:
        purged = purge_rejected(session=session, before=before)
    if purged:
        log.info("deleted %d rejected payload(s) received before %s", purged, before.isoformat())
    return purged


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
    today = local_today(now, settings)
    report = NotifyReport()
    for done in planned.values():
        report.planned += done.planned
        report.cancelled += done.cancelled
        report.suppressed += done.suppressed
        report.held += done.held
        report.unroutable += done.unroutable
        report.backlog += done.backlog
    engine = shared_engine(settings.database.url)
    scope = {p.id for p in settings.providers}
    coaches = staff_of(engine, scope)
    check_recipients(settings.recipients, coaches=coaches, environ=environ)
    for provider_id in sorted(scope - set(planned)):  # their checks failed or did not plan
        plan_and_write(engine, settings, provider_id, now=now, today=today, report=report)
    with read_scope(engine) as session:
        run = plan_reminder(
            session=session,
            today=today,
            settings=policy_settings(settings.alerts),
            calendar=FinnishCalendar(),
        )
    write_ahead(engine, run, Router(settings.recipients), now=now, today=today, report=report)
    deliver_run(
        settings, engine=engine, now=now, today=today, report=report, environ=environ, hook=hook
    )
    purge_expired_rejected(engine, settings, now=now)
    return report
