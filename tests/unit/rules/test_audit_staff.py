"""Worked examples for the audit and staff rules."""

from __future__ import annotations

import pytest

from contract.validate import validate_staff
from rules import Status
from tests.unit.rules.builders import audit, case, coach, d, rule, run


def finding(fid: str, severity: str, **fields: object) -> dict[str, object]:
    return {"finding_id": fid, "severity": severity, "area": "client_safety", **fields}


@pytest.mark.parametrize(
    ("report", "today", "status"),
    [
        (None, "2025-05-19", Status.DUE_SOON),
        ("2025-05-20", "2025-05-30", Status.MET),
        ("2025-05-21", "2025-05-30", Status.MET_LATE),
        (None, "2025-05-21", Status.BREACHED),
    ],
)
def test_audit_report_expected(report: str | None, today: str, status: Status) -> None:
    """AUDIT-REPORT-EXPECTED: visit + 14 days (a Tuesday: nothing to roll)."""
    deadline = rule(run(today, audits=[audit(report_received_on=report)]), "AUDIT-REPORT-EXPECTED")
    assert (deadline.due_on, deadline.status) == (d("2025-05-20"), status)
    assert deadline.subject_kind == "audit"


@pytest.mark.parametrize(
    ("visit", "due", "skipped"),
    [
        ("2026-03-20", "2026-04-07", "Good Friday"),
        ("2026-12-10", "2026-12-28", "Christmas Eve"),
        ("2026-06-05", "2026-06-22", "Midsummer Eve"),
    ],
)
def test_audit_report_expected_rolls(visit: str, due: str, skipped: str) -> None:
    """Decision 3: AUDIT-REPORT-EXPECTED rolls to the next working day."""
    deadline = rule(run(visit, audits=[audit(visit_on=visit)]), "AUDIT-REPORT-EXPECTED")
    assert deadline.due_on == d(due)
    assert any(line.startswith("roll:") and skipped in line for line in deadline.explanation)


def _escalation(today: str, **fields: object) -> list[object]:
    return run(today, audits=[audit(report_received_on="2025-05-19", **fields)])


@pytest.mark.parametrize(
    ("today", "response", "findings", "escalate"),
    [
        ("2025-06-04", None, [finding("F1", "major", corrected_on="2025-05-19")], True),
        ("2025-06-04", "2025-06-04", [finding("F1", "major", corrected_on="2025-05-19")], True),
        ("2025-06-04", "2025-06-03", [finding("F1", "major", corrected_on="2025-05-19")], False),
        ("2025-06-03", None, [finding("F1", "major", corrected_on="2025-05-19")], False),
        ("2025-06-04", None, [finding("F1", "minor")], False),
    ],
)
def test_audit_response_escalates_with_a_major_finding(
    today: str, response: str | None, findings: list[dict[str, object]], escalate: bool
) -> None:
    """Decision 5: AUDIT-RESPONSE-4W escalates when late or missing with a major finding."""
    deadlines = _escalation(today, response_sent_on=response, findings=findings)
    deadline = rule(deadlines, "AUDIT-RESPONSE-4W")
    assert deadline.escalate is escalate
    assert any(line.startswith("escalate:") for line in deadline.explanation) is escalate


@pytest.mark.parametrize(
    ("today", "corrected", "escalate"),
    [
        ("2025-06-03", None, False),
        ("2025-06-04", None, True),
        ("2025-06-10", "2025-06-03", False),
        ("2025-06-10", "2025-06-04", True),
    ],
)
def test_audit_major_escalates_after_the_response_due(
    today: str, corrected: str | None, escalate: bool
) -> None:
    """Decision 5: AUDIT-MAJOR-NOW escalates when uncorrected or corrected after 2025-06-03."""
    major = finding("F1", "major", corrected_on=corrected)
    deadline = rule(_escalation(today, findings=[major]), "AUDIT-MAJOR-NOW")
    assert deadline.escalate is escalate
    assert any("after the response due date 2025-06-03" in x for x in deadline.explanation) is (
        escalate
    )


def test_audit_response_rolls() -> None:
    """AUDIT-RESPONSE-4W: visit + 28 days, rolled (Midsummer)."""
    deadline = rule(run("2025-06-01", audits=[audit(visit_on="2025-05-23")]), "AUDIT-RESPONSE-4W")
    assert deadline.due_on == d("2025-06-23")
    assert deadline.status == Status.OPEN


def test_findings() -> None:
    """Major: due the day the report arrives, safety escalates; minor: by the response due."""
    findings = [
        finding("F1", "major", safety_related=True),
        finding("F2", "major", corrected_on="2025-05-19"),
        finding("F3", "minor"),
        finding("F4", "minor", corrected_on="2025-06-04"),
        finding("F5", "suggestion"),
    ]
    deadlines = run(
        "2025-05-20", audits=[audit(report_received_on="2025-05-19", findings=findings)]
    )
    f1 = rule(deadlines, "AUDIT-MAJOR-NOW", "AUD-1/F1")
    assert (f1.status, f1.escalate, f1.subject_kind) == (Status.BREACHED, True, "finding")
    assert f1.explanation[0].startswith("safety-related")
    f2 = rule(deadlines, "AUDIT-MAJOR-NOW", "AUD-1/F2")
    assert (f2.status, f2.escalate) == (Status.MET, False)
    f3 = rule(deadlines, "AUDIT-MINOR-BY-RESPONSE", "AUD-1/F3")
    assert (f3.due_on, f3.status) == (d("2025-06-03"), Status.OPEN)
    f4 = rule(deadlines, "AUDIT-MINOR-BY-RESPONSE", "AUD-1/F4")
    assert f4.status == Status.MET_LATE
    assert not [x for x in deadlines if x.subject == "AUD-1/F5"]
    waiting = run("2025-05-10", audits=[audit(findings=[finding("F1", "major")])])
    assert rule(waiting, "AUDIT-MAJOR-NOW").status == Status.WAITING


def test_team_minimum() -> None:
    """COACH-TEAM-MIN-3: ok with 3 present; breached below; at_risk for an absence ahead."""
    away = [{"start_on": "2025-05-05", "end_on": "2025-05-09"}]
    staff = [coach("c-1"), coach("c-2"), coach("c-3", absent=away), coach("c-4", active=False)]
    ok = rule(run("2025-04-20", staff=staff, provider_id="p1"), "COACH-TEAM-MIN-3")
    assert (ok.status, ok.count, ok.subject_kind, ok.subject) == (Status.OK, 3, "provider", "p1")
    risk = rule(run("2025-05-01", staff=staff), "COACH-TEAM-MIN-3")
    assert (risk.status, risk.due_on, risk.count) == (Status.AT_RISK, d("2025-05-05"), 2)
    assert risk.subject == "provider"
    low = rule(run("2025-05-06", staff=staff), "COACH-TEAM-MIN-3")
    assert (low.status, low.details) == (Status.BREACHED, ("c-3 absent",))
    later = [coach("c-1"), coach("c-2"), coach("c-3"), coach("c-5", absent=away)]
    assert rule(run("2025-05-01", staff=later), "COACH-TEAM-MIN-3").status == Status.OK


@pytest.mark.parametrize(
    ("valid_until", "status"),
    [
        ("2025-08-01", Status.OPEN),
        ("2025-06-30", Status.DUE_SOON),
        ("2025-05-01", Status.DUE_SOON),
        ("2025-04-30", Status.BREACHED),
        (None, Status.BREACHED),
    ],
)
def test_first_aid(valid_until: str | None, status: Status) -> None:
    """FIRST-AID-VALID: warn 60 days before; missing or expired is a breach."""
    deadlines = run(
        "2025-05-01",
        staff=[coach("c-1", first_aid_valid_until=valid_until), coach("c-9", active=False)],
    )
    deadline = rule(deadlines, "FIRST-AID-VALID")
    assert (deadline.status, deadline.subject_kind, deadline.coach_id) == (status, "coach", "c-1")


def test_absence_cover() -> None:
    """ABSENCE-COVER: substitute when available, else at_risk for quality staff."""
    away = [{"start_on": "2025-03-10", "end_on": "2025-03-21"}]
    item = case()  # START-2W due 2025-03-17, CONTACT due 2025-03-04
    covered = run(
        "2025-03-03", [item], staff=[coach("c-1", absent=away, substitute_id="c-2"), coach("c-2")]
    )
    cover = rule(covered, "ABSENCE-COVER")
    assert (cover.status, cover.coach_id, cover.due_on) == (Status.OK, "c-2", d("2025-03-17"))
    assert cover.details == ("START-2W due 2025-03-17 falls in coach c-1's absence",)
    for staff in (
        [coach("c-1", absent=away)],
        [coach("c-1", absent=away, substitute_id="c-2"), coach("c-2", absent=away)],
        [coach("c-1", absent=away, substitute_id="c-2"), coach("c-2", active=False)],
    ):
        alone = rule(run("2025-03-03", [item], staff=staff), "ABSENCE-COVER")
        assert (alone.status, alone.coach_id) == (Status.AT_RISK, "c-1")
        assert alone.explanation[0].endswith("tell quality staff")
    none = run(
        "2025-03-03",
        [item],
        staff=[coach("c-1", absent=[{"start_on": "2025-04-01", "end_on": "2025-04-02"}])],
    )
    assert not [x for x in none if x.rule == "ABSENCE-COVER"]
    other = run("2025-03-03", [item], staff=[coach("c-7", absent=away), coach("c-1")])
    assert not [x for x in other if x.rule == "ABSENCE-COVER"]


def test_team_rule_always_answers() -> None:
    """Decision 8: an empty staff list is breached (0 of 3); no staff data is unconfigured."""
    empty = rule(run("2025-04-20", staff=[], provider_id="p1"), "COACH-TEAM-MIN-3")
    assert (empty.status, empty.count, empty.limit) == (Status.BREACHED, 0, 3)
    assert empty.details == ("no coach on the staff list",)
    unknown = rule(run("2025-04-20", staff=None, provider_id="p1"), "COACH-TEAM-MIN-3")
    assert (unknown.status, unknown.subject) == (Status.UNCONFIGURED, "p1")
    assert unknown.explanation[0] == "no staff data: the staff list has never been read"
    inactive = rule(run("2025-04-20", staff=[coach("c-1", active=False)]), "COACH-TEAM-MIN-3")
    assert (inactive.status, inactive.count) == (Status.BREACHED, 0)


def test_team_rule_when_every_coach_was_rejected() -> None:
    """Decision 8: a staff list whose every coach is invalid is a team of 0, breached."""
    valid, rejected = validate_staff([{"id": "c-1"}, {"id": "c-2", "office_id": ""}])
    assert (valid, len(rejected)) == ([], 2)
    team = rule(run("2025-04-20", staff=valid), "COACH-TEAM-MIN-3")
    assert team.status == Status.BREACHED
