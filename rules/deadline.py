"""What the engine returns: deadlines with their status and explanation, and rejections.

A closed set of statuses; every consumer handles them with ``match``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal, NamedTuple


class Status(StrEnum):
    OPEN = "open"  # due later than the warning window
    DUE_SOON = "due_soon"  # 0 <= days left <= largest warning lead (counted: at/past warn count)
    BREACHED = "breached"  # due date passed without the event, or a violation recorded
    MET = "met"  # event on or before the due date
    MET_LATE = "met_late"  # event after the due date (a breach in reports)
    OK = "ok"  # per-item or counted rule with no violation so far
    AT_RISK = "at_risk"  # forecast says it cannot be met
    WAITING = "waiting"  # trigger date not known yet
    NOT_APPLICABLE = "not_applicable"
    ADVISORY = "advisory"  # e.g. LONG-ILLNESS-CONTACT-KELA
    UNCONFIGURED = "unconfigured"  # rule disabled for lack of a parameter value


SubjectKind = Literal["case", "audit", "finding", "coach", "provider", "office"]

#: A stored status text as its Status: a dictionary look-up, far cheaper than
#: ``Status(text)``, for the hundreds of thousands of rows a national run reads back.
STATUS_OF: dict[str, Status] = {status.value: status for status in Status}

#: Statuses that count as a breach in reports.
BREACH_STATUSES = frozenset({Status.BREACHED, Status.MET_LATE})
#: Statuses after which nothing more will happen for the deadline.
FINAL_STATUSES = frozenset({Status.MET, Status.MET_LATE, Status.NOT_APPLICABLE})
#: Statuses that call for nobody's action: such a deadline never alerts (a *quiet* one).
QUIET_STATUSES = frozenset({Status.OK, Status.WAITING, Status.NOT_APPLICABLE, Status.UNCONFIGURED})
#: Every status that may call for someone's action.
ACTIONABLE_STATUSES = frozenset(Status) - QUIET_STATUSES


class Deadline(NamedTuple):
    """One rule evaluated for one subject on one day (immutable).

    A named tuple rather than a frozen dataclass: a national run builds tens of millions
    of them, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` a field)
    costs several times a tuple's. Change one with ``deadline._replace(field=value)``.
    """

    subject_kind: SubjectKind
    subject: str  # case_ref, audit_id, AUDIT_ID/FINDING_ID, coach id, provider or office id
    rule: str  # stable rule id, e.g. START-2W
    status: Status
    due_on: date | None = None
    event_on: date | None = None
    days_left: int | None = None  # due_on - today in calendar days; negative when overdue
    details: tuple[str, ...] = ()  # offending dates / items for per-item and counted rules
    explanation: tuple[str, ...] = ()  # human-readable reasons, in order
    pack_id: str = ""
    provisional: tuple[str, ...] = ()  # provisional parameters this deadline used
    # Routing and reporting context (never personal data):
    office_id: str | None = None
    coach_id: str | None = None
    link: str | None = None  # case_url for coaches
    language: str | None = None  # client's service language
    escalate: bool = False  # e.g. a safety-related major deviation
    count: int | None = None  # type: ignore[assignment]  # counted rules: the count (shadows tuple.count)
    limit: int | None = None  # counted rules: the limit

    def to_json(self) -> dict[str, object]:
        """The CLI/API shape (`vahti evaluate --format json`)."""
        return {
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "rule": self.rule,
            "status": self.status.value,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "event_on": self.event_on.isoformat() if self.event_on else None,
            "days_left": self.days_left,
            "details": list(self.details),
            "explanation": list(self.explanation),
            "pack": self.pack_id,
            "provisional": list(self.provisional),
            "office_id": self.office_id,
            "coach_id": self.coach_id,
            "escalate": self.escalate,
        }


#: The explanation line of a start-phase deadline missed before its case ended
#: (rules.md decision 1): the alert policy reads it to stay quiet about ended cases.
ENDED_AFTER_DUE_PREFIX = "the case ended on "
ENDED_AFTER_DUE_SUFFIX = ", after the due date"


def ended_after_due(deadline: Deadline) -> bool:
    """The deadline was missed before its case ended (it stays breached, decision 1)."""
    return any(
        line.startswith(ENDED_AFTER_DUE_PREFIX) and line.endswith(ENDED_AFTER_DUE_SUFFIX)
        for line in deadline.explanation
    )


class ProviderDeadline(NamedTuple):
    """A deadline and the provider it belongs to (a coach id or a case reference is the
    provider's own: the pair is what is unique across providers)."""

    provider_id: str
    deadline: Deadline
