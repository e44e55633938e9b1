"""``evaluate``: every rule of rules.md for cases, audits and staff on one day.

Pure: no clock, no I/O. ``today`` and the calendar are inputs; the pack is either given
or chosen per deadline as the pack in force on its trigger date (``pack=None``).
Operator overrides (per provider) apply on top of whichever pack is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from contract.payloads import AuditPayload, CasePayload, CoachPayload
from rules.audit_rules import evaluate_audit
from rules.calendar import FinnishCalendar
from rules.case_breaks import BREAK_RULES
from rules.case_counts import COUNT_RULES
from rules.case_end import END_RULES
from rules.case_rules import START_PHASE_RULES, long_illness, vocational_plan
from rules.deadline import Deadline
from rules.explain import CaseContext, Env
from rules.pack import RulePack, Value
from rules.recheck import next_change_on
from rules.staff_rules import absence_cover, evaluate_staff

#: Days before a due date a deadline is ``due_soon`` (and when an unchanged case is rechecked).
WARN_DAYS = 7

CASE_RULES = (
    *START_PHASE_RULES,
    long_illness,
    vocational_plan,
    *END_RULES,
    *COUNT_RULES,
    *BREAK_RULES,
)

#: Every rule id the engine can emit, in catalogue order.
RULE_IDS = (
    "CONTACT-NEXT-WD",
    "FIRST-MEETING-1W",
    "START-2W",
    "WORKPLACE-1M",
    "LONG-ILLNESS-CONTACT-KELA",
    "VOCATIONAL-PLAN",
    "TOTAL-DURATION",
    "FINAL-DISCUSSION",
    "FEEDBACK-DUE",
    "FEEDBACK-RECORDS-EXTENSIONS",
    "DAY-QUOTA",
    "DAY-LENGTH",
    "TV-PAID-WORK",
    "MEALS-PT8",
    "ABSENCE-NOT-BILLED",
    "TV-MEETINGS-MAX",
    "TK-MEETINGS-MAX",
    "VIDEO-MEETINGS-MAX",
    "MEETING-PLACE",
    "EMPLOYER-BREAK-RESUME",
    "EMPLOYER-BREAK-LONG",
    "ABSENCE-COVER",
    "AUDIT-REPORT-EXPECTED",
    "AUDIT-RESPONSE-4W",
    "AUDIT-MAJOR-NOW",
    "AUDIT-MINOR-BY-RESPONSE",
    "COACH-TEAM-MIN-3",
    "FIRST-AID-VALID",
)


def evaluate(  # noqa: PLR0917 - the issue's contract: evaluate(cases, audits, staff, pack, today, calendar)
    cases: Iterable[CasePayload],
    audits: Iterable[AuditPayload],
    staff: Iterable[CoachPayload] | None,
    pack: RulePack | None,
    today: date,
    calendar: FinnishCalendar,
    *,
    overrides: Mapping[str, Value] | None = None,
    provider_id: str | None = None,
    warn_days: int = WARN_DAYS,
    recheck: dict[str, date | None] | None = None,
) -> list[Deadline]:
    """All deadlines for the given (valid) items on ``today``: cases, audits, then staff.

    ``staff=None`` means no staff data at all (COACH-TEAM-MIN-3 ``unconfigured``); an
    empty list is a provider without coaches (``breached``).

    When ``recheck`` is given, it receives for every case ref the first later day the
    case must be evaluated again even if it does not change (``rules.recheck``).
    """
    env = Env(
        today=today,
        calendar=calendar,
        pack=pack,
        overrides=overrides,
        provider_id=provider_id,
        warn_days=warn_days,
    )
    coaches = None if staff is None else list(staff)
    deadlines = _case_deadlines(cases, coaches or [], env, recheck=recheck)
    deadlines.extend(_other_deadlines(audits, coaches, env))
    return deadlines


def evaluate_cases(
    cases: Iterable[CasePayload],
    staff: Iterable[CoachPayload],
    env: Env,
    *,
    recheck: dict[str, date | None] | None = None,
) -> list[Deadline]:
    """The case deadlines alone (ABSENCE-COVER included: it reads the staff list).

    Cases are independent of each other, so a provider's cases can be evaluated in
    batches (a page at a time) with one :class:`Env` and give what :func:`evaluate` gives.
    """
    return _case_deadlines(cases, list(staff), env, recheck=recheck)


def evaluate_others(
    audits: Iterable[AuditPayload], staff: Iterable[CoachPayload] | None, env: Env
) -> list[Deadline]:
    """The audit, finding and staff deadlines (everything :func:`evaluate_cases` leaves out);
    ``staff=None``: no staff data at all."""
    return _other_deadlines(audits, None if staff is None else list(staff), env)


def _case_deadlines(
    cases: Iterable[CasePayload],
    coaches: list[CoachPayload],
    env: Env,
    *,
    recheck: dict[str, date | None] | None,
) -> list[Deadline]:
    by_id = {coach.id: coach for coach in coaches}
    deadlines: list[Deadline] = []
    for case in cases:
        ctx = CaseContext(case, env)
        found = [rule(ctx) for rule in CASE_RULES]
        deadlines.extend(found)
        if recheck is not None:
            recheck[case.case_ref] = next_change_on(ctx, found)
        if by_id:
            cover = absence_cover(ctx, found, by_id)
            if cover is not None:
                deadlines.append(cover)
    return deadlines


def _other_deadlines(
    audits: Iterable[AuditPayload], coaches: list[CoachPayload] | None, env: Env
) -> list[Deadline]:
    deadlines: list[Deadline] = []
    for audit in audits:
        deadlines.extend(evaluate_audit(audit, env))
    deadlines.extend(evaluate_staff(coaches, env, env.provider_id))
    return deadlines
