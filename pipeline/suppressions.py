"""Acknowledge, silence and unsilence: the steps behind the Prefect flows (and the checks
the command line shares), recorded in the alert ledger's acknowledgement table.

An acknowledgement quietens one subject and rule until a date or until the deadline is
met; a silence until a date (required). Both need a reason and who asked; a date in the
past is refused. Unsilence revokes what is in force for the subject and rule (the rows
stay, with ``revoked_at``, for the weekly report).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from core.errors import InputError
from models import ledger
from models.db import session_scope, shared_engine
from pipeline.steps import settings_from

log = logging.getLogger("vahti.pipeline")
Kind = Literal["ack", "silence"]


@dataclass(frozen=True, slots=True)
class SuppressionSummary:
    """What one acknowledge, silence or unsilence recorded (no personal data: references)."""

    kind: str  # ack | silence | unsilence
    subject: str
    rule: str
    by: str
    reason: str
    until_on: str | None = None
    changed: int = 1  # rows written, or revoked

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "rule": self.rule,
            "by": self.by,
            "reason": self.reason,
            "until_on": self.until_on,
            "changed": self.changed,
        }


def checked(kind: Kind, *, reason: str, until_on: date | None, today: date) -> str:
    """The reason, stripped; InputError for what neither the CLI nor the UI accepts."""
    if not reason.strip():
        raise InputError("reason must not be empty")
    if kind == "silence" and until_on is None:
        raise InputError("a silence needs an until date")
    if until_on is not None and until_on < today:
        raise InputError(f"until {until_on.isoformat()} is in the past")
    return reason.strip()


def asked_by(by: str) -> str:
    """Who asked, stripped; InputError when a flow run does not know (the CLI's is optional)."""
    if not by.strip():
        raise InputError("who asked is unknown: give 'by' (the run's creator is not known)")
    return by.strip()


def parse_until(text: str | None) -> date | None:
    """An ISO date, or None; InputError naming the value otherwise."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"until {text!r} is not a date (YYYY-MM-DD)") from None


def suppress_step(
    config_path: str,
    kind: Kind,
    *,
    subject: str,
    rule: str,
    reason: str,
    until: str | None,
    by: str,
    provider_id: str | None,
    now_at: str,
) -> SuppressionSummary:
    """Record an acknowledgement or a silence (validated as the command line does)."""
    settings = settings_from(config_path)
    now = datetime.fromisoformat(now_at)
    until_on = parse_until(until)
    why = checked(kind, reason=reason, until_on=until_on, today=now.date())
    who = asked_by(by)
    if provider_id is not None:
        settings.provider(provider_id)  # a ConfigError names an unknown provider
    with session_scope(shared_engine(settings.database.url)) as session:
        ledger.add_suppression(
            session=session, kind=kind, subject=subject, rule=rule, reason=why, by=who,
            until_on=until_on, now=now, provider_id=provider_id,
        )  # fmt: skip
    log.info("%s of %s %s by %s until %s", kind, subject, rule, who, until or "met")
    until_text = until_on.isoformat() if until_on else None
    return SuppressionSummary(kind, subject, rule, who, why, until_text)


def unsilence_step(
    config_path: str, *, subject: str, rule: str, reason: str, by: str, now_at: str
) -> SuppressionSummary:
    """Revoke the acknowledgements and silences in force for a subject and rule."""
    settings = settings_from(config_path)
    now = datetime.fromisoformat(now_at)
    why = checked("ack", reason=reason, until_on=None, today=now.date())
    who = asked_by(by)
    with session_scope(shared_engine(settings.database.url)) as session:
        revoked = ledger.revoke_suppressions(
            session=session, subject=subject, rule=rule, by=who, reason=why, now=now
        )
    if not revoked:
        raise InputError(f"nothing acknowledged or silenced for {subject} {rule}")
    log.info("unsilence of %s %s by %s: %d revoked", subject, rule, who, revoked)
    return SuppressionSummary("unsilence", subject, rule, who, why, changed=revoked)
