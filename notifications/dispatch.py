"""Delivering what the ledger holds: claim a target's ready rows, render one digest, send
it with Apprise, record the result; failed rows wait for their backoff, and repeated
failures reach operations (once per recipient and day, through the ledger too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

import orjson
from sqlalchemy import Engine

from core.config import Settings
from models import ledger
from models.alerting import Alert
from models.db import read_scope, session_scope, shared_engine
from notifications.counts import NotifyReport
from notifications.delivery import DeliveryResult, deliver
from notifications.messages import render_stored_digest
from notifications.policy import PlannedAlert
from notifications.routing import Router, Target, role_entries, targets_of
from notifications.write_ahead import ledger_rows, local_today
from rules.deadline import Deadline, Status

log = logging.getLogger("notifications.dispatch")

#: A test hook: called with ("claimed" | "delivered" | "recorded", target key).
Hook = Callable[[str, str], None]


def all_targets(settings: Settings) -> dict[str, Target]:
    found = [t for k, r, rc in role_entries(settings.recipients) for t in targets_of(k, r, rc)]
    return {t.key: t for t in found}


def deliver_run(
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
    origins = {p.id: p.case_link_origins for p in settings.providers}
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
                link_origins=origins,
            )
            result = deliver(
                target, message, environ=environ, notify_type=_notify_type(target, claimed)
            )
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
        lang = target.language if target else "-"
        report.count_items([_provider_of(a.item) for a in claimed.alerts], ok=result.ok)
        if result.ok:
            report.sent += len(claimed.alerts)
            report.messages_sent += 1
            report.by_language[lang] = report.by_language.get(lang, 0) + len(claimed.alerts)
        else:
            report.failed += len(claimed.alerts)
            report.messages_failed += 1
            report.errors.append(result.error or f"{key}: delivery failed")
        log.info(
            "%s (%s, %s): %s %d item(s) in one message%s",
            target.label if target else key,
            target.role if target else "unknown",
            lang,
            "sent" if result.ok else "FAILED",
            len(claimed.alerts),
            "" if result.ok else f": {result.error}",
        )
        if hook:
            hook("recorded", key)


def _notify_type(target: Target, claimed: ledger.Claimed) -> str:
    """Apprise's notify type: operations alerts are failures (a resolved note alone is a
    success); every other digest is information."""
    if target.role != "operations":
        return "info"
    resolved = all(
        orjson.loads(a.item).get("rule") == ledger.OUTAGE_RESOLVED_RULE for a in claimed.alerts
    )
    return "success" if resolved else "failure"


def _provider_of(item: str) -> str:
    """The provider of a stored message item (its JSON)."""
    return str(orjson.loads(item).get("provider_id", "-"))


def operations_alert(
    *, provider_id: str, rule: str, subject: str, reason: str, today: date, stage: str = ""
) -> PlannedAlert:
    """An alert to operations; ``stage`` (default: the rule and the day) is its dedup part."""
    stage = stage or f"{rule.lower()}-{today.isoformat()}"
    deadline = Deadline(
        subject_kind="provider",
        subject=subject,
        rule=rule,
        status=Status.BREACHED,
        explanation=(reason,),
    )
    key = f"{provider_id}|provider|{subject}|{rule}|-|{stage}"
    return PlannedAlert(
        key=key,
        provider_id=provider_id,
        deadline=deadline,
        stage=stage,
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
            alert = operations_alert(
                provider_id=failed[0].provider_id,
                rule="DELIVERY-FAILED",
                subject=recipient_key,
                reason=reason,
                today=today,
            )
            rows += ledger_rows([alert], router, now=now, today=today, report=report)
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
    today = local_today(now, settings)
    report = NotifyReport()
    engine = shared_engine(settings.database.url)
    alert = operations_alert(
        provider_id=provider_id, rule=rule, subject=subject, reason=reason, today=today
    )
    rows = ledger_rows([alert], Router(settings.recipients), now=now, today=today, report=report)
    with session_scope(engine) as session:
        report.planned = ledger.write_alerts(session=session, rows=rows)
    deliver_ready(settings, engine=engine, now=now, today=today, report=report, environ=environ)
    return report
