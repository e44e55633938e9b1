"""Property tests: extensions never shorten, TOTAL-DURATION never moves, nothing raises/drops."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.validate import validate_cases
from tests.unit.rules.builders import day, raw_case, rule, run

DATES = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A raw case that passes validation, with random phases, pauses, meetings and days."""
    decision = draw(DATES)
    offsets = sorted(draw(st.lists(st.integers(0, 200), min_size=4, max_size=4)))
    contact, first, workplace, ended = (decision + timedelta(days=o) for o in offsets)
    phase = draw(st.integers(0, 4))
    fields: dict[str, Any] = {
        "service": draw(st.sampled_from(["work_trial", "job_coaching"])),
        "decision_received_on": decision.isoformat(),
    }
    if phase >= 1:
        fields["first_contact_on"] = contact.isoformat()
    if phase >= 2:
        fields["first_meeting_on"] = first.isoformat()
        n_days = draw(st.integers(0, 20))
        fields["days"] = [
            day(
                (first + timedelta(days=i)).isoformat(),
                status=draw(st.sampled_from(["realized", "absent_illness"])),
                hours_total=6.0,
                hours_at_workplace=draw(st.sampled_from([4.0, 5.0, 6.0])),
                billed_price_types=draw(st.sampled_from([[], [1], [8]])),
            )
            for i in range(n_days)
            if phase < 4 or first + timedelta(days=i) <= ended
        ]
        fields["pauses"] = draw(st.lists(pauses(first), max_size=4))
    if phase >= 3:
        fields["workplace_phase_started_on"] = workplace.isoformat()
    if phase >= 4:
        fields["ended_on"] = ended.isoformat()
        fields["end_reason"] = draw(st.sampled_from(["completed", "interrupted"]))
    return raw_case(**fields)


@st.composite
def pauses(draw: st.DrawFn, start: date) -> dict[str, Any]:
    """One pause of any kind starting at or after ``start``."""
    begin = start + timedelta(days=draw(st.integers(0, 60)))
    end = begin + timedelta(days=draw(st.integers(0, 40)))
    kind = draw(
        st.sampled_from(
            ["illness", "sequencing", "employer_delayed_start", "interpreter_unavailable"]
        )
    )
    pause: dict[str, Any] = {"kind": kind, "start_on": begin.isoformat(), "end_on": end.isoformat()}
    if kind == "illness":
        pause["remote_participation_possible"] = draw(st.sampled_from([True, False, None]))
    if kind == "sequencing":
        pause["reason"] = draw(st.sampled_from(["awaiting_employer_replies", "employer_break"]))
    if kind == "employer_delayed_start":
        pause["start_confirmed_on"] = (begin - timedelta(days=draw(st.integers(0, 30)))).isoformat()
    return pause


@PROFILE
@given(valid_cases(), DATES)
def test_evaluation_never_raises_on_valid_input(item: dict[str, Any], today: date) -> None:
    """Every generated valid case validates and evaluates into 21 case rules (or more)."""
    valid, rejected = validate_cases([item])
    assert rejected == []
    deadlines = run(today.isoformat(), valid)
    assert len({d.rule for d in deadlines if d.subject_kind == "case"}) == 21


@PROFILE
@given(valid_cases(), DATES)
def test_extension_never_makes_due_earlier(item: dict[str, Any], today: date) -> None:
    """WORKPLACE-1M and START-2W with pauses are never earlier than without them."""
    with_pauses, _ = validate_cases([item])
    without, _ = validate_cases([{**item, "pauses": []}])
    for rule_id in ("WORKPLACE-1M", "START-2W"):
        extended = rule(run(today.isoformat(), with_pauses), rule_id).due_on
        base = rule(run(today.isoformat(), without), rule_id).due_on
        if base is not None:
            assert extended is not None
            assert extended >= base


@PROFILE
@given(valid_cases(), DATES)
def test_total_duration_never_moves(item: dict[str, Any], today: date) -> None:
    """TOTAL-DURATION's due date ignores every pause, day and event."""
    with_pauses, _ = validate_cases([item])
    bare = {
        k: v
        for k, v in item.items()
        if k not in {"pauses", "days", "ended_on", "end_reason", "workplace_phase_started_on"}
    }
    without, _ = validate_cases([bare])
    moved = rule(run(today.isoformat(), with_pauses), "TOTAL-DURATION").due_on
    assert moved == rule(run(today.isoformat(), without), "TOTAL-DURATION").due_on


BREAKERS = st.sampled_from(
    [
        {"service": "teaching"},
        {"first_meeting_on": "2020-01-01"},
        {"hours": -1, "days": [{"on": "2025-01-01", "status": "realized", "hours_total": -1}]},
        {"notes": "131052-308T"},
        {"decision_received_on": "yesterday"},
        {"updated_at": "2025-01-01T00:00:00"},
    ]
)


@PROFILE
@given(st.lists(valid_cases(), max_size=5), st.lists(BREAKERS, max_size=5), st.randoms())
def test_invalid_items_land_in_rejected_and_nothing_is_dropped(
    good: list[dict[str, Any]], breakers: list[dict[str, Any]], random: Any
) -> None:
    """Each broken item is rejected; each valid one is kept; counts add up."""
    items = [{**item, "case_ref": f"OK-{i}"} for i, item in enumerate(good)]
    bad = [raw_case(case_ref=f"BAD-{i}", **change) for i, change in enumerate(breakers)]
    batch = items + bad
    random.shuffle(batch)
    valid, rejected = validate_cases(batch)
    assert sorted(c.case_ref for c in valid) == sorted(i["case_ref"] for i in items)
    assert sorted(r.ref or "" for r in rejected) == sorted(i["case_ref"] for i in bad)
    assert all(r.errors for r in rejected)
