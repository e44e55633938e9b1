"""Rows of the operator tables and reports: references, rules, dates and reasons only.

Small frozen records shared by the pipeline steps, the Prefect artifacts and the HTML
report. They never hold personal data: a case is its pseudonymous reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import rules
from rules.deadline import Deadline
from rules.summary import summary


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A rejected payload as operators see it: its reference and its errors only."""

    kind: str
    ref: str | None
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """One deadline in an operator table (no personal data)."""

    provider_id: str
    subject_kind: str
    subject: str
    rule: str
    status: str
    due_on: str | None
    days_left: int | None
    office_id: str | None
    reason: str
    explanation: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProvisionalRow:
    """A provisional (unverified) or overridden rule parameter in use."""

    pack_id: str
    name: str
    value: float | int | None
    provisional: bool
    overridden: bool
    description: str


def deadline_row(provider_id: str, deadline: Deadline, *, explain: bool = False) -> DeadlineRow:
    """A deadline as an operator-table row; the reason is the engine's one-line summary."""
    return DeadlineRow(
        provider_id=provider_id,
        subject_kind=deadline.subject_kind,
        subject=deadline.subject,
        rule=deadline.rule,
        status=deadline.status.value,
        due_on=deadline.due_on.isoformat() if deadline.due_on else None,
        days_left=deadline.days_left,
        office_id=deadline.office_id,
        reason=summary(deadline.explanation, deadline.details),
        explanation=deadline.explanation if explain else (),
    )


def provisional_rows(
    pack_ids: Iterable[str],
    overrides: dict[str, float | int | bool | None],
    provider_id: str,
) -> tuple[ProvisionalRow, ...]:
    """Every provisional or overridden parameter of the packs in use."""
    rows: list[ProvisionalRow] = []
    for pack_id in sorted(pack_ids):
        pack = rules.get_pack(pack_id)
        if overrides:
            pack = pack.with_overrides(
                {k: (None if v is None else float(v)) for k, v in overrides.items()},
                by=provider_id,
            )
        for name, param in sorted(pack.parameters.items()):
            if param.provisional or param.overridden:
                rows.append(
                    ProvisionalRow(
                        pack_id=pack.id,
                        name=name,
                        value=param.value,
                        provisional=param.provisional,
                        overridden=param.overridden,
                        description=param.describe(),
                    )
                )
    return tuple(rows)
