"""The synthetic provider data generator: determinism, shape, statistics, invalid items."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from contract.payloads import AuditPayload, CasePayload, CoachPayload
from core.errors import InputError
from reference.faults import Faults
from reference.generator import generate_dataset
from reference.generator_org import FINDING_SHAPE, scaled_counts

TODAY = date(2026, 4, 1)


def test_same_seed_same_data() -> None:
    """Two datasets from one seed are identical, a different seed differs."""
    first = generate_dataset(cases=200, seed=3, today=TODAY, invalid_share=0.1)
    again = generate_dataset(cases=200, seed=3, today=TODAY, invalid_share=0.1)
    other = generate_dataset(cases=200, seed=4, today=TODAY, invalid_share=0.1)
    assert list(first.cases) == list(again.cases)
    assert first.audits == again.audits
    assert first.staff == again.staff
    assert first.invalid_refs == again.invalid_refs
    assert list(first.cases) != list(other.cases)


def test_valid_cases_validate_and_cover_every_phase() -> None:
    """Without invalid share every case parses; both services and all phases appear."""
    data = generate_dataset(cases=1500, seed=11, today=TODAY)
    cases = [CasePayload.model_validate(c) for c in data.cases]
    assert {c.service for c in cases} == {"work_trial", "job_coaching"}
    assert any(c.first_contact_on is None for c in cases)
    assert any(c.first_contact_on and c.first_meeting_on is None for c in cases)
    assert any(
        c.first_meeting_on and c.workplace_phase_started_on is None and not c.ended_on
        for c in cases
    )
    assert any(c.workplace_phase_started_on and not c.ended_on for c in cases)
    assert {c.end_reason for c in cases} >= {"completed", "interrupted", None}
    assert {p.kind for c in cases for p in c.pauses} == {
        "illness",
        "sequencing",
        "employer_delayed_start",
        "interpreter_unavailable",
    }
    assert {m.kind for c in cases for m in c.meetings} == {"regular", "network", "final_discussion"}
    assert any(
        8 in d.billed_price_types for c in cases if c.service == "job_coaching" for d in c.days
    )
    assert any(d.status != "realized" and d.billed_price_types for c in cases for d in c.days)
    assert {c.updated_at.utcoffset().total_seconds() for c in cases} == {7200.0, 10800.0}
    assert all(c.updated_at.date() < TODAY for c in cases)
    assert all(c.case_url == f"https://crm.example.fi/cases/{c.case_ref}" for c in cases)


def test_events_never_after_last_update_or_outside_window() -> None:
    """Days and meetings lie between the first meeting and the end, never after today."""
    data = generate_dataset(cases=800, seed=5, today=TODAY)
    for raw in data.cases:
        case = CasePayload.model_validate(raw)
        last = case.ended_on or TODAY
        for day in case.days:
            assert case.workplace_phase_started_on is not None
            assert case.workplace_phase_started_on <= day.on <= last
        for meeting in case.meetings:
            assert case.first_meeting_on is not None
            assert case.first_meeting_on <= meeting.on <= last
        if case.ended_on and case.first_meeting_on:
            assert case.ended_on > case.first_meeting_on


def test_minority_breaches_feedback_and_first_aid() -> None:
    """Most ended cases send feedback within 14 days; some coaches' first aid is expired."""
    data = generate_dataset(cases=2000, seed=2, today=TODAY)
    ended = [CasePayload.model_validate(c) for c in data.cases if c["ended_on"]]
    on_time = sum(
        1 for c in ended if c.feedback_sent_on and (c.feedback_sent_on - c.ended_on).days <= 14
    )
    assert 0.6 < on_time / len(ended) < 0.95
    coaches = [CoachPayload.model_validate(c) for c in data.staff]
    expired = [c for c in coaches if c.first_aid_valid_until and c.first_aid_valid_until < TODAY]
    assert 0 < len(expired) < len(coaches) / 3
    offices = Counter(c.office_id for c in coaches if c.active)
    assert min(offices.values()) < 3 <= max(offices.values())
    assert any(c.substitute_id is None for c in coaches)


def test_eight_audits_reproduce_the_seed_statistics() -> None:
    """Scaled to 8 audits: exactly 8 major, 23 minor, 27 suggestions and 2 strengths."""
    counts = Counter()
    for row, count in zip(FINDING_SHAPE, scaled_counts(8), strict=True):
        counts[row[0]] += count
    assert counts == {"major": 8, "minor": 23, "suggestion": 27, "strength": 2}
    majors = {
        row[3]: n
        for row, n in zip(FINDING_SHAPE, scaled_counts(8), strict=True)
        if row[0] == "major"
    }
    assert sorted(majors.values()) == [1, 3, 4]


def test_audits_scale_with_provider_size() -> None:
    """A 6000-case provider gets 8 audits shaped like the seed; a tiny one gets one."""
    data = generate_dataset(cases=6000, seed=1, today=TODAY)
    audits = [AuditPayload.model_validate(a) for a in data.audits]
    assert len(audits) == 8
    severities = Counter(f.severity for a in audits for f in a.findings)
    assert severities == {"major": 8, "minor": 23, "suggestion": 27, "strength": 2}
    assert len(generate_dataset(cases=10, seed=1, today=TODAY).audits) == 1


def test_invalid_share_makes_every_kind_of_invalid_item() -> None:
    """A 10 % share marks 10 % of cases invalid, in all six ways, each detectable."""
    data = generate_dataset(cases=600, seed=9, today=TODAY, invalid_share=0.1)
    assert len(data.invalid) == 60
    assert set(data.invalid.values()) == {
        "unknown_enum",
        "negative_hours",
        "ended_before_first_meeting",
        "identity_code",
        "duplicate_ref",
        "wrong_types",
    }
    for index, kind in data.invalid.items():
        raw = data.cases[index]
        assert raw["case_ref"] in data.invalid_refs
        match kind:
            case "unknown_enum" | "negative_hours" | "wrong_types":
                with pytest.raises(ValidationError):
                    CasePayload.model_validate(raw)
            case "ended_before_first_meeting":
                assert raw["ended_on"] < raw["first_meeting_on"]
            case "identity_code":
                assert "131052-308T" in str(raw)
            case "duplicate_ref":
                twins = [c for c in data.cases if c["case_ref"] == raw["case_ref"]]
                assert len(twins) == 2
                assert twins[0] != twins[1]


def test_touch_changes_share_and_moves_items_last() -> None:
    """touch() bumps updated_at and content of the chosen share only."""
    data = generate_dataset(cases=100, seed=1, today=TODAY)
    before = list(data.cases)
    now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    refs = data.touch(0.1, seed=5, now=now)
    after = list(data.cases)
    changed = {b["case_ref"] for b, a in zip(before, after, strict=True) if a != b}
    assert changed == set(refs)
    assert len(refs) == 10
    last_keys = data.case_keys.keys[-10:]
    assert {key[1] for key in last_keys} == set(refs)
    for raw in after:
        if raw["case_ref"] in refs:
            assert datetime.fromisoformat(raw["updated_at"]) == now
            CasePayload.model_validate(raw)


def test_fault_spec_parses_and_refuses_nonsense() -> None:
    """Faults.parse reads the CLI string and names a bad key or value."""
    faults = Faults.parse("error_rate=0.2,rate_limit_rate=0.1,latency_ms=50,endless_cursor=true")
    assert faults == Faults(
        error_rate=0.2, rate_limit_rate=0.1, latency_ms=50.0, endless_cursor=True
    )
    assert Faults.parse("") == Faults()
    assert not Faults().active
    with pytest.raises(InputError, match="nonsense"):
        Faults.parse("nonsense=1")
    with pytest.raises(InputError, match="error_rate"):
        Faults.parse("error_rate=2")
    with pytest.raises(InputError, match="more than 1"):
        Faults.parse("error_rate=0.6,drop_rate=0.6")


def test_hundred_thousand_cases_generate_quickly() -> None:
    """100 000 cases generate in well under 5 s and the first and last build."""
    started = time.perf_counter()
    data = generate_dataset(cases=100_000, seed=1, today=TODAY)
    assert time.perf_counter() - started < 5
    assert len(data.cases) == 100_000
    assert len(set(data.refs)) == 100_000
    CasePayload.model_validate(data.cases[0])
    CasePayload.model_validate(data.cases[-1])
