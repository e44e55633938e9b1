"""Scenario settings and the invariants the crash and concurrency tests check.

- :func:`lost_records`: every item the reference server serves now is in the store -
  a valid case with its latest content (and that revision), an invalid one in the
  rejected payloads; returns what is missing (must be empty).
- :func:`delivery_accounting`: ties the ledger to what the real SMTP sink received;
  every due alert ``sent`` exactly once, receivers got exactly one digest per
  ``sent`` attempt plus at most one per attempt a crash left in ``sending``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, text
from sqlmodel import Session

from contract.hetu import withhold
from contract.validate import validate_cases
from core.config import ProviderSettings, Settings
from models.alerting import Alert, DeliveryAttempt
from models.db import make_engine
from models.provider_data import Case, CaseRevision, RejectedPayload
from models.store import canonical_json, content_hash
from notifications.dispatch import all_targets
from reference.generator import Dataset
from reference.mail import MaildirSink

BASE_NOW = "2026-04-01T09:00:00+03:00"  # Wednesday, inside the send window


def alert_settings(
    url: str,
    providers_: list[ProviderSettings],
    dataset: Dataset,
    sink: MaildirSink,
    **alerts: object,
) -> Settings:
    """Every coach of ``dataset`` gets its own mailbox on the sink; quality and operations too."""
    coaches = {
        str(c["id"]): {"urls": [sink.url(f"coach-{c['id']}@example.org")], "language": "fi"}
        for c in dataset.staff
    }
    return Settings.model_validate(
        {
            "database": {"url": url},
            "providers": [p.model_dump() for p in providers_],
            "recipients": {
                "coaches": {p.id: coaches for p in providers_},
                "quality": [{"urls": [sink.url("quality@example.org")], "name": "lv"}],
                "operations": [
                    {"urls": [sink.url("ops@example.org")], "name": "ops", "language": "en"}
                ],
            },
            # Every item listed in its digest (no "N more" counts), so each ledger row can be
            # traced to the message that carried it.
            "alerts": {
                "claim_lease_minutes": 1,
                "retry_base_minutes": 1,
                "digest_max_items": 1000,
                **alerts,
            },
        }
    )


def lost_records(url: str, provider_id: str, dataset: Dataset) -> list[str]:
    """What the store misses of what the server serves now (empty = nothing lost)."""
    items = [dataset.case_dict(i) for i in range(len(dataset))]
    refs = Counter(str(item.get("case_ref")) for item in items)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(Case.case_ref, Case.content_hash).where(Case.provider_id == provider_id)
            cases = {str(ref): str(digest) for ref, digest in session.execute(query).all()}
            revisions = set(
                session.scalars(
                    select(CaseRevision.content_hash).where(CaseRevision.provider_id == provider_id)
                )
            )
            rejected = set(
                session.scalars(
                    select(RejectedPayload.content_hash).where(
                        RejectedPayload.provider_id == provider_id
                    )
                )
            )
    finally:
        engine.dispose()
    missing: list[str] = []
    for item in items:
        ref = str(item.get("case_ref"))
        digest = content_hash(canonical_json(item))
        valid, _ = validate_cases([item])
        if refs[ref] > 1:  # a duplicated ref: each copy kept somewhere, never dropped
            if digest not in revisions and digest not in rejected:
                missing.append(f"{ref}: duplicate-ref copy neither stored nor rejected")
        elif valid:
            if cases.get(ref) != digest:
                missing.append(f"{ref}: latest content not stored")
            if digest not in revisions:
                missing.append(f"{ref}: latest revision missing")
        elif content_hash(withhold(canonical_json(item))) not in rejected:  # kept masked
            missing.append(f"{ref}: invalid item not in rejected payloads")
    return missing


@dataclass
class Accounting:
    """What the ledger says against what the receivers got."""

    alerts_sent: int = 0  # ledger rows ``sent``
    alerts_open: int = 0  # ledger rows still pending/sending/failed
    digests_received: int = 0
    duplicates: int = 0  # digests received beyond the ``sent`` attempts (crash window)
    stuck_attempts: int = 0  # attempts a crash left in ``sending``
    problems: list[str] = field(default_factory=list)


def _address(url: str) -> str:
    return parse_qs(urlsplit(url).query)["to"][0]


def delivery_accounting(settings: Settings, sink: MaildirSink) -> Accounting:
    """Compare the ledger with the sink's mailboxes (see the module docstring)."""
    targets = all_targets(settings)
    engine = make_engine(settings.database.url)
    try:
        with Session(engine) as session:
            alerts = list(session.scalars(select(Alert)))
            attempts = list(session.scalars(select(DeliveryAttempt)))
    finally:
        engine.dispose()
    acc = Accounting()
    received = Counter(r for m in sink.messages for r in m.rcpt_tos)
    acc.digests_received = sum(received.values())
    sent_in: Counter[int] = Counter()
    per_target: dict[str, Counter[str]] = {}
    for attempt in attempts:
        per_target.setdefault(attempt.target_key, Counter())[attempt.status] += 1
        if attempt.status == "sent":
            sent_in.update(json.loads(attempt.alert_ids))
    for key, statuses in per_target.items():
        address = _address(targets[key].url)
        got, sent, stuck = received[address], statuses["sent"], statuses["sending"]
        acc.stuck_attempts += stuck
        if not sent <= got <= sent + stuck:
            acc.problems.append(f"{address}: got {got} digests, {sent} sent + {stuck} in doubt")
        acc.duplicates += max(got - sent, 0)
    for alert in alerts:
        if alert.status == "sent":
            acc.alerts_sent += 1
            if sent_in[alert.id or 0] != 1:
                acc.problems.append(f"alert {alert.id} sent in {sent_in[alert.id or 0]} attempts")
            address = _address(targets[alert.target_key].url)
            if not any(alert.subject in m.text() for m in sink.messages if address in m.rcpt_tos):
                acc.problems.append(f"alert {alert.id}: {alert.subject} in no digest to {address}")
        elif alert.status not in {"cancelled", "summarized"}:  # summarized: told in a backlog
            acc.alerts_open += 1
    return acc


def leftover_locks(url: str) -> list[str]:
    """PostgreSQL: locks held by other sessions and stuck claims (SQLite: stuck claims only)."""
    engine = make_engine(url)
    found: list[str] = []
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                rows = connection.execute(
                    text(
                        "SELECT locktype, mode, pid FROM pg_locks "
                        "WHERE pid <> pg_backend_pid() AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                ).all()
                found += [f"pg_lock {r.locktype} {r.mode} pid {r.pid}" for r in rows]
                waiting = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                if waiting:
                    found.append(f"{waiting} session(s) idle in transaction")
            stuck = connection.execute(
                text("SELECT count(*) FROM alert WHERE status = 'sending' AND claimed_at IS NULL")
            ).scalar()
            if stuck:
                found.append(f"{stuck} alert(s) in sending without a claim")
    finally:
        engine.dispose()
    return found
