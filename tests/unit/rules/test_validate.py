"""Boundary validation: every error names field and value; nothing raises or is dropped."""

from __future__ import annotations

from typing import Any

import pytest

from contract.hetu import contains_identity_code, identity_code_paths, withhold
from contract.validate import validate_audits, validate_cases, validate_staff
from tests.unit.rules.builders import UPDATED, day, meeting, raw_case

CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def code(birth: str, sign: str, individual: str) -> str:
    """A well-formed identity code with its correct check character."""
    return f"{birth}{sign}{individual}{CHECK[int(birth + individual) % 31]}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("131052-308T", True),  # the official example
        (code("010594", "Y", "903"), True),  # 2023 sign for the 1900s
        (code("020304", "B", "123"), True),  # 2023 sign for the 2000s
        (code("311299", "+", "001"), True),
        ("notes: 131052-308T.", True),
        ("131052-308U", False),  # wrong check character
        ("311304-308T", False),  # no such date
        ("x131052-308T", True),  # glued to letters (decision 11)
        ("asiakas131052-308Tabc", True),
        ("9131052-308T", False),  # part of a longer number
        ("131052-3085", False),  # wrong check character and no boundary issue
        (code("131052", "-", "308") + "7", True),  # check T then a digit: still a code
        (code("010594", "-", "901") + "1", False),  # a digit check char then a digit
        ("150375-123d", True),  # the issue's lower-case check character
        (code("020304", "b", "123").lower(), True),  # lower-case century sign
        ("asiakas%20131052-308T", True),  # percent-encoded URL
        ("https://crm.example.fi/asiakas/%31%33%31%30%35%32%2D%33%30%38%54", True),
        ("131052\u2010308T", True),  # hyphen
        ("131052\u2212308T", True),  # minus sign
        ("1310\u200b52-30\u200d8T", True),  # zero-width
        ("\uff11\uff13\uff11\uff10\uff15\uff12-308T", True),
        ("TK-2025-0017", False),
        ("2025-04-14", False),
        ("", False),
    ],
)
def test_identity_code_detector(text: str, expected: bool) -> None:
    """Only well-formed codes with a real date and a correct check character count."""
    assert contains_identity_code(text) is expected


def test_withhold_and_paths() -> None:
    """Codes are replaced in shown text; paths name keys, values and list positions."""
    assert withhold("id 131052-308T here") == "id <identity code withheld> here"
    assert withhold("131052-308U") == "131052-308U"
    item = {
        "a": ["x", {"b": "131052-308T"}],
        "131052-308T": {"d": "131052-308T"},
        "c": ("131052-308T",),
    }
    assert identity_code_paths(item) == [
        "<key withheld> (key)",
        "<key withheld>.d",
        "a[1].b",
        "c[0]",
    ]
    assert identity_code_paths("131052-308T") == ["item"]
    assert identity_code_paths(5) == []
    assert identity_code_paths({"a": "short"}) == []
    looped: dict[str, Any] = {"x": "131052-308T"}
    looped["self"] = looped
    assert identity_code_paths(looped) == ["x"]
    shared = ["131052-308T"]
    assert len(identity_code_paths({"a": shared, "b": shared})) == 1  # visited once


def errors_of(item: Any) -> list[str]:
    valid, rejected = validate_cases([item])
    assert not valid
    assert len(rejected) == 1
    return list(rejected[0].errors)


def test_valid_case_passes() -> None:
    """A consistent case is valid and nothing is rejected."""
    item = raw_case(
        first_contact_on="2025-03-04",
        first_meeting_on="2025-03-10",
        days=[day("2025-03-11")],
        meetings=[meeting("2025-03-10")],
    )
    valid, rejected = validate_cases([item])
    assert (len(valid), rejected) == (1, [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"first_meeting_on": "2025-02-01"},
            "first_meeting_on 2025-02-01 is before decision_received_on 2025-03-03",
        ),
        (
            {"first_contact_on": "2025-03-01"},
            "first_contact_on 2025-03-01 is before decision_received_on 2025-03-03",
        ),
        (
            {"first_meeting_on": "2025-03-10", "workplace_phase_started_on": "2025-03-09"},
            "workplace_phase_started_on 2025-03-09 is before first_meeting_on 2025-03-10",
        ),
        (
            {"workplace_phase_started_on": "2025-03-09"},
            "workplace_phase_started_on 2025-03-09 without first_meeting_on",
        ),
        (
            {"first_meeting_on": "2025-03-10", "ended_on": "2025-03-09"},
            "ended_on 2025-03-09 is before first_meeting_on 2025-03-10",
        ),
        ({"end_reason": "completed"}, "end_reason 'completed' without ended_on"),
        ({"ended_on": "2025-03-20"}, "ended_on 2025-03-20 without end_reason"),
        (
            {"first_contact_on": "2025-03-06", "first_meeting_on": "2025-03-05"},
            "first_meeting_on 2025-03-05 is before first_contact_on 2025-03-06",
        ),
        (
            {"ended_on": "2025-03-20", "feedback_sent_on": "2025-03-19"},
            "feedback_sent_on 2025-03-19 is before ended_on 2025-03-20",
        ),
        (
            {"pauses": [{"kind": "illness", "start_on": "2025-03-20", "end_on": "2025-03-19"}]},
            "pauses[0].end_on 2025-03-19 is before pauses[0].start_on 2025-03-20",
        ),
        (
            {"pauses": [{"kind": "illness", "start_on": "2025-03-01", "end_on": "2025-03-19"}]},
            "pauses[0].start_on 2025-03-01 is before decision_received_on 2025-03-03",
        ),
        (
            {"meetings": [meeting("2025-03-01")]},
            "meetings[0].on 2025-03-01 is before decision_received_on 2025-03-03",
        ),
        (
            {"first_meeting_on": "2025-03-10", "meetings": [meeting("2025-03-05")]},
            "meetings[0].on 2025-03-05 is before first_meeting_on 2025-03-10",
        ),
        (
            {"days": [day("2025-03-11")]},
            "days[0].on 2025-03-11 is outside the service window: no first_meeting_on",
        ),
        (
            {"first_meeting_on": "2025-03-10", "days": [day("2025-03-09")]},
            "days[0].on 2025-03-09 is outside the service window: before first_meeting_on",
        ),
        (
            {
                "first_meeting_on": "2025-03-10",
                "ended_on": "2025-03-12",
                "days": [day("2025-03-13")],
            },
            "days[0].on 2025-03-13 is outside the service window: after ended_on 2025-03-12",
        ),
        (
            {"first_meeting_on": "2025-03-10", "days": [day("2025-03-11"), day("2025-03-11")]},
            "days[1].on 2025-03-11 appears more than once",
        ),
        (
            {"first_meeting_on": "2025-03-10", "days": [day("2025-03-11", hours_at_workplace=7)]},
            "days[0].hours_at_workplace 7 is more than hours_total 6",
        ),
        (
            {"first_meeting_on": "2025-03-10", "days": [day("2025-03-11", hours_total=-1)]},
            "days[0].hours_total -1: Input should be greater than or equal to 0",
        ),
        (
            {"first_meeting_on": "2025-03-10", "days": [day("2025-03-11", hours_total=25)]},
            "days[0].hours_total 25: Input should be less than or equal to 24",
        ),
        ({"service": "teaching"}, "service 'teaching': Input should be 'work_trial' or"),
        ({"decision_received_on": "2025-02-30"}, "decision_received_on '2025-02-30': "),
        (
            {"case_url": "https://x.example/131052-308T"},
            "case_url: identity code (withheld)",
        ),
        (
            {"extra": {"note": ["131052-308T"]}},
            "extra.note[0]: identity code (withheld)",
        ),
    ],
)
def test_case_errors_name_field_and_value(fields: dict[str, Any], message: str) -> None:
    """Each check produces an error naming the field and the value."""
    errors = errors_of(raw_case(**fields))
    assert any(error.startswith(message) for error in errors), errors


def test_missing_field_and_identity_code_never_echoed() -> None:
    """Missing fields are named; a code inside a bad value is withheld from errors."""
    item = raw_case(language="131052-308T")
    del item["coach_id"]
    errors = errors_of(item)
    assert "coach_id: required field missing" in errors
    assert not any("131052" in error for error in errors)
    assert "language identity code (withheld): Input should be 'fi', 'sv' or 'en'" in errors
    assert "language: identity code (withheld)" in errors


def test_long_values_are_shortened() -> None:
    """Long bad values are cut in messages."""
    errors = errors_of(raw_case(service="x" * 200))
    assert "..." in errors[0]
    assert len(errors[0]) < 200


@pytest.mark.parametrize("garbage", [None, 5, "case", [1, 2], {"case_ref": 7}, {"case_ref": ""}])
def test_garbage_items_are_rejected_not_raised(garbage: Any) -> None:
    """Non-dict and shapeless items become rejections without a ref."""
    valid, rejected = validate_cases([garbage])
    assert valid == []
    assert rejected[0].ref is None
    assert rejected[0].raw is garbage


@pytest.mark.parametrize("batch", [None, 5, "text", {"items": []}, b"bytes"])
def test_garbage_batches_never_raise(batch: Any) -> None:
    """A batch that is not a list is treated as one (invalid) item."""
    valid, rejected = validate_cases(batch)
    assert valid == []
    assert len(rejected) == 1


def test_duplicates_in_one_batch() -> None:
    """Identical duplicates are kept once; different content rejects every copy."""
    item = raw_case()
    valid, rejected = validate_cases([item, dict(item), raw_case(case_ref="TK-2")])
    assert [c.case_ref for c in valid] == ["TK-1", "TK-2"]
    assert rejected == []
    changed = raw_case(first_contact_on="2025-03-04")
    valid, rejected = validate_cases([item, changed, raw_case(case_ref="TK-2")])
    assert [c.case_ref for c in valid] == ["TK-2"]
    assert [r.ref for r in rejected] == ["TK-1", "TK-1"]
    assert rejected[0].errors[0] == (
        "case_ref 'TK-1' appears 2 times in one batch with different content"
    )
    bad = raw_case(service="nope")
    valid, rejected = validate_cases([bad, dict(bad)])
    assert (valid, len(rejected)) == ([], 2)


def test_identity_code_in_ref_is_withheld() -> None:
    """A ref that is an identity code never reaches the rejection's ref."""
    _, rejected = validate_cases([raw_case(case_ref="131052-308T")])
    assert rejected[0].ref == "<identity code withheld>"


def test_audits() -> None:
    """Audit dates and duplicate findings are checked."""
    good = {"audit_id": "A1", "visit_on": "2025-05-06", "updated_at": UPDATED}
    f = {"finding_id": "F1", "severity": "minor", "area": "staff", "corrected_on": "2025-05-01"}
    bad = {
        **good,
        "audit_id": "A2",
        "report_received_on": "2025-05-01",
        "response_sent_on": "2025-05-02",
        "findings": [f, f],
    }
    valid, rejected = validate_audits([good, bad])
    assert [a.audit_id for a in valid] == ["A1"]
    assert rejected[0].kind == "audit"
    assert list(rejected[0].errors) == [
        "report_received_on 2025-05-01 is before visit_on 2025-05-06",
        "response_sent_on 2025-05-02 is before visit_on 2025-05-06",
        "findings[0].corrected_on 2025-05-01 is before visit_on 2025-05-06",
        "findings[1].corrected_on 2025-05-01 is before visit_on 2025-05-06",
        "findings[1].finding_id 'F1' appears more than once",
    ]


def test_staff() -> None:
    """Absence order and self-substitution are checked."""
    good = {"id": "c-1", "office_id": "HEL-1", "substitute_id": "c-2"}
    bad = {
        "id": "c-2",
        "office_id": "HEL-1",
        "substitute_id": "c-2",
        "absent": [{"start_on": "2025-07-02", "end_on": "2025-07-01"}],
    }
    valid, rejected = validate_staff([good, bad])
    assert [c.id for c in valid] == ["c-1"]
    assert list(rejected[0].errors) == [
        "absent[0].end_on 2025-07-01 is before absent[0].start_on 2025-07-02",
        "substitute_id 'c-2' is the coach itself",
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("\u0422\u041a-2025-0001", "must be 1-64 characters"),  # Cyrillic look-alike letters
        ("TK-\u202e1000-KT", "must be 1-64 characters"),  # right-to-left override
        ("TK\u200b-1", "must be 1-64 characters"),  # zero-width space
        ("TK-1\n## x", "must be 1-64 characters"),
        ("TK 1", "must be 1-64 characters"),
        ("T" * 65, "must be 1-64 characters"),
        ("", "must be 1-64 characters"),
        ("0401234567", "looks like a phone number"),
        ("358-40-123-4567", "looks like a phone number"),
        ("matti.meikalainen@example.fi", "looks like an e-mail address"),
    ],
)
@pytest.mark.parametrize("field", ["case_ref", "office_id", "coach_id"])
def test_references_outside_the_character_set_are_refused_naming_the_field(
    field: str, value: str, problem: str
) -> None:
    """Look-alikes, direction and zero-width characters, phones and e-mails: refused with an
    error naming the field, never echoing the value."""
    (error,) = errors_of(raw_case(**{field: value}))
    assert error.startswith(f"{field}: ")
    assert problem in error
    assert "value withheld" in error
    if value:
        assert value not in error
    assert not any(ch in error for ch in "\u202e\u200b\n")


def test_full_width_references_are_the_ascii_case_after_nfkc() -> None:
    """NFKC makes a full-width reference the same case as its ASCII form (never two)."""
    full_width = "\uff34\uff2b-1"  # TK-1 in full-width letters
    valid, rejected = validate_cases([raw_case(case_ref=full_width)])
    assert [c.case_ref for c in valid] == ["TK-1"]
    assert rejected == []
    _, both = validate_cases(
        [raw_case(case_ref="TK-1"), raw_case(case_ref=full_width, coach_id="x")]
    )
    assert [r.ref for r in both] == ["TK-1", "TK-1"]  # one reference, conflicting content


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://crm.example.fi/c/1?email=matti%40example.fi", "looks like an e-mail address"),
        ("https://matti@example.fi/c/1", "looks like an e-mail address"),
        ("https://crm.example.fi/call/+358401234567", "looks like a phone number"),
        ("https://crm.example.fi/c/1\n[x](https://evil.example)", "control, direction or space"),
        ("https://crm.example.fi/c/\u202e1", "control, direction or space"),
    ],
)
def test_case_urls_with_personal_data_or_control_characters_are_refused(
    url: str, problem: str
) -> None:
    """A case link holding an e-mail, a phone number or control characters is refused."""
    (error,) = errors_of(raw_case(case_url=url))
    assert error.startswith("case_url: ")
    assert problem in error
    assert "example.fi" not in error


def test_audit_finding_and_staff_ids_follow_the_reference_rules() -> None:
    """audit_id, finding_id, coach and substitute ids are references too."""
    audit = {"audit_id": "A\u200b1", "visit_on": "2025-05-06", "updated_at": UPDATED}
    finding = {"finding_id": "040-1234567", "severity": "minor", "area": "staff"}
    _, rejected = validate_audits([audit, {**audit, "audit_id": "A2", "findings": [finding]}])
    assert [r.ref for r in rejected] == [None, "A2"]
    assert rejected[0].errors[0].startswith("audit_id: must be 1-64 characters")
    assert rejected[1].errors[0].startswith("findings[0].finding_id: looks like a phone number")
    _, staff = validate_staff([{"id": "c-1", "office_id": "HEL-1", "substitute_id": "c@x.fi"}])
    assert staff[0].errors[0].startswith("substitute_id: looks like an e-mail address")
