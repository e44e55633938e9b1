"""Small builders for engine inputs: valid payloads with only the fields a test cares about."""

from __future__ import annotations

from datetime import date
from typing import Any

from contract.payloads import AuditPayload, CasePayload, CoachPayload
from rules import FinnishCalendar, evaluate
from rules.deadline import Deadline

UPDATED = "2025-04-14T15:02:11+03:00"
CALENDAR = FinnishCalendar()


def d(text: str) -> date:
    """A date from ISO text."""
    return date.fromisoformat(text)


def raw_case(**fields: Any) -> dict[str, Any]:
    """A raw (JSON-shaped) case; defaults make a fresh work trial."""
    item: dict[str, Any] = {
        "case_ref": "TK-1",
        "service": "work_trial",
        "office_id": "HEL-1",
        "coach_id": "c-1",
        "language": "fi",
        "case_url": "https://crm.example.fi/cases/TK-1",
        "decision_received_on": "2025-03-03",
        "updated_at": UPDATED,
    }
    item.update(fields)
    return item


def case(**fields: Any) -> CasePayload:
    """A validated case."""
    return CasePayload.model_validate(raw_case(**fields))


def day(on: str, **fields: Any) -> dict[str, Any]:
    """A realized, full-length day unless told otherwise."""
    item: dict[str, Any] = {
        "on": on,
        "status": "realized",
        "hours_total": 6.0,
        "hours_at_workplace": 5.0,
    }
    item.update(fields)
    return item


def meeting(on: str, **fields: Any) -> dict[str, Any]:
    """A 60-minute in-person meeting at the office."""
    item: dict[str, Any] = {"on": on, "mode": "in_person", "place": "office", "minutes": 60}
    item.update(fields)
    return item


def audit(**fields: Any) -> AuditPayload:
    """A validated audit."""
    item: dict[str, Any] = {
        "audit_id": "AUD-1",
        "office_id": "HEL-1",
        "visit_on": "2025-05-06",
        "updated_at": UPDATED,
    }
    item.update(fields)
    return AuditPayload.model_validate(item)


def coach(id: str, **fields: Any) -> CoachPayload:
    """A validated, active coach."""
    item: dict[str, Any] = {"id": id, "office_id": "HEL-1"}
    item.update(fields)
    return CoachPayload.model_validate(item)


def run(
    today: str,
    cases: list[CasePayload] = (),  # type: ignore[assignment]
    audits: list[AuditPayload] = (),  # type: ignore[assignment]
    staff: list[CoachPayload] = (),  # type: ignore[assignment]
    **options: Any,
) -> list[Deadline]:
    """evaluate() with the default pack resolution."""
    return evaluate(cases, audits, staff, None, d(today), CALENDAR, **options)


def rule(deadlines: list[Deadline], rule_id: str, subject: str | None = None) -> Deadline:
    """The one deadline of ``rule_id`` (for ``subject`` when given)."""
    found = [x for x in deadlines if x.rule == rule_id and subject in (None, x.subject)]
    assert len(found) == 1, [x.rule for x in deadlines]
    return found[0]


def one(today: str, rule_id: str, **case_fields: Any) -> Deadline:
    """Evaluate one case and return one rule's deadline."""
    return rule(run(today, [case(**case_fields)]), rule_id)
