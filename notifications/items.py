"""One alert of a digest as the ledger stores it, and the reason it carries.

A :class:`MessageItem` is written to the ledger as JSON when its alert is planned, so a
retry days later renders the same text. Its reason is the engine's one-line summary
(English) plus the structured facts :mod:`notifications.reasons` puts into Finnish and
Swedish words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from contract.hetu import withhold
from notifications.reminder import Reminder
from rules.summary import reason_parts, summary

_MAX_REASON = 200


class ReasonFields(TypedDict):
    """A deadline's reason as MessageItem fields."""

    reason: str
    trigger: str | None
    trigger_on: date | None
    extension_days: int
    rolled: bool
    offending_on: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class MessageItem:
    """One alert in a digest, as stored in the ledger (so a retry renders the same text)."""

    provider_id: str
    subject_kind: str
    subject: str
    rule: str
    stage: str
    status: str
    urgent: bool
    due_on: date | None = None
    days_left: int | None = None
    reason: str = ""  # English one-liner (rules.summary); other languages use the parts
    link: str | None = None
    count: int | None = None
    limit: int | None = None
    trigger: str | None = None  # the field that started the clock
    trigger_on: date | None = None
    extension_days: int = 0
    rolled: bool = False
    offending_on: tuple[date, ...] = ()
    reminder: Reminder | None = None  # the daily breach reminder's summary (no other item)

    def to_json(self) -> dict[str, object]:
        """Every field, dates as ISO text (built by hand: ``asdict`` costs far more)."""
        return {
            "provider_id": self.provider_id,
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "rule": self.rule,
            "stage": self.stage,
            "status": self.status,
            "urgent": self.urgent,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "days_left": self.days_left,
            "reason": self.reason,
            "link": self.link,
            "count": self.count,
            "limit": self.limit,
            "trigger": self.trigger,
            "trigger_on": self.trigger_on.isoformat() if self.trigger_on else None,
            "extension_days": self.extension_days,
            "rolled": self.rolled,
            "offending_on": [on.isoformat() for on in self.offending_on],
            "reminder": self.reminder.to_json() if self.reminder else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], *, today: date | None = None) -> MessageItem:
        """The item :meth:`to_json` wrote; with ``today``, its days left as of that day (a
        retry may be sent days after the alert was planned)."""
        values = dict(data)
        due = values.get("due_on")
        due_on = date.fromisoformat(due) if isinstance(due, str) else None
        values["due_on"] = due_on
        if today is not None and due_on is not None:
            values["days_left"] = (due_on - today).days
        trigger_on = values.get("trigger_on")
        values["trigger_on"] = (
            date.fromisoformat(trigger_on) if isinstance(trigger_on, str) else None
        )
        offending = values.get("offending_on")
        values["offending_on"] = tuple(
            date.fromisoformat(str(on)) for on in (offending if isinstance(offending, list) else [])
        )
        reminder = values.get("reminder")
        values["reminder"] = Reminder.from_json(reminder) if isinstance(reminder, dict) else None
        return cls(**values)  # type: ignore[arg-type]


def clean_reason(
    explanation: tuple[str, ...] | list[str], details: tuple[str, ...] | list[str] = ()
) -> str:
    """The engine's one-line summary, identity-code patterns removed, bounded."""
    line = " ".join(withhold(summary(explanation, details), "[removed]").split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def reason_fields(
    explanation: tuple[str, ...] | list[str], details: tuple[str, ...] | list[str] = ()
) -> ReasonFields:
    """The MessageItem fields that carry a deadline's reason (English and structured)."""
    parts = reason_parts(explanation, details)
    return {
        "reason": clean_reason(explanation, details),
        "trigger": parts.trigger,
        "trigger_on": parts.trigger_on,
        "extension_days": parts.extension_days,
        "rolled": parts.rolled,
        "offending_on": parts.offending_on,
    }
