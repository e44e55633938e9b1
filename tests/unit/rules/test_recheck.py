"""``next_change_on``: an unchanged case never changes before the day it names."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson
from hypothesis import given

import rules
from contract import validate
from reference.generator import generate_dataset
from rules.case_end import at_risk_from
from rules.deadline import Deadline
from rules.engine import WARN_DAYS, evaluate, evaluate_cases, evaluate_others
from rules.explain import CaseContext, Env
from tests.unit.rules.builders import audit, case, coach
from tests.unit.rules.builders import d as day_on
from tests.unit.rules.test_properties import PROFILE, valid_cases

TODAY = date(2026, 3, 10)
LATER = (*range(1, 15), 20, 31, 45, 60, 90, 120, 200, 400)
CALENDAR = rules.FinnishCalendar()


def _facts(deadlines: list[Deadline]) -> dict[str, list[tuple[Any, ...]]]:
    """What a history row depends on, per case (days_left and explanations left out)."""
    facts: dict[str, list[tuple[Any, ...]]] = {}
    for d in deadlines:
        if d.subject_kind == "case":
            facts.setdefault(d.subject, []).append(
                (d.rule, d.status, d.due_on, d.event_on, d.details, d.count, d.limit, d.coach_id)
            )
    return facts


def _misses(cases: list[Any], staff: list[Any]) -> list[str]:
    recheck: dict[str, date | None] = {}
    first = _facts(rules.evaluate(cases, [], staff, None, TODAY, CALENDAR, recheck=recheck))
    misses = []
    for days in LATER:
        on = TODAY + timedelta(days=days)
        later = _facts(rules.evaluate(cases, [], staff, None, on, CALENDAR))
        for ref, facts in first.items():
            again = recheck[ref]
            if later[ref] != facts and (again is None or again > on):
                misses.append(f"{ref} changed by {on}, recheck {again}")
    return misses


def test_generated_cases_change_only_on_or_after_their_recheck_day() -> None:
    """Synthetic cases evaluated on later days differ only once their recheck day came."""
    dataset = generate_dataset(cases=400, seed=11, today=TODAY)
    raw = [orjson.loads(dataset.case_bytes(i)) for i in range(len(dataset))]
    cases, _ = validate.validate_cases(raw)
    staff, _ = validate.validate_staff(dataset.staff)
    assert _misses(cases, staff) == []


def test_recheck_is_after_today_or_none() -> None:
    """Every recheck day is later than the evaluation day, and some cases have none."""
    dataset = generate_dataset(cases=200, seed=12, today=TODAY)
    raw = [orjson.loads(dataset.case_bytes(i)) for i in range(len(dataset))]
    cases, _ = validate.validate_cases(raw)
    recheck: dict[str, date | None] = {}
    rules.evaluate(cases, [], [], None, TODAY, CALENDAR, recheck=recheck)
    assert set(recheck) == {c.case_ref for c in cases}
    assert all(on is None or on > TODAY for on in recheck.values())
    assert any(on is None for on in recheck.values())


@PROFILE
@given(valid_cases())
def test_random_cases_change_only_on_or_after_their_recheck_day(raw: dict[str, Any]) -> None:
    """Random valid cases never change status before their recheck day."""
    cases, rejected = validate.validate_cases([raw])
    assert not rejected
    assert _misses(cases, []) == []


def test_batches_give_what_evaluate_gives() -> None:
    """evaluate_cases + evaluate_others (a page at a time) equal one evaluate()."""
    items = [case(first_contact_on="2025-03-04"), case(case_ref="TK-2")]
    staff = [coach("c-1")]
    env = Env(
        today=day_on("2025-03-05"),
        calendar=CALENDAR,
        pack=None,
        overrides=None,
        provider_id="p1",
        warn_days=WARN_DAYS,
    )
    whole = evaluate(
        items, [audit()], staff, None, day_on("2025-03-05"), CALENDAR, provider_id="p1"
    )
    batched = evaluate_cases(items[:1], staff, env) + evaluate_cases(items[1:], staff, env)
    assert batched + evaluate_others([audit()], staff, env) == whole


def test_at_risk_needs_a_first_meeting() -> None:
    """Without a first meeting TOTAL-DURATION has no forecast to turn."""
    env = Env(
        today=day_on("2025-03-05"),
        calendar=CALENDAR,
        pack=None,
        overrides=None,
        provider_id=None,
        warn_days=WARN_DAYS,
    )
    assert at_risk_from(CaseContext(case(), env), day_on("2025-08-10")) is None
