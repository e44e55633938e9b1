"""Worked examples for the counted, per-item and closing case rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import Status
from tests.unit.rules.builders import case, d, day, meeting, one, rule, run

STARTED = {"first_contact_on": "2025-03-04", "first_meeting_on": "2025-03-10"}


def days(count: int, start: str = "2025-03-10", **fields: object) -> list[dict[str, object]]:
    first = d(start)
    return [day((first + timedelta(days=i)).isoformat(), **fields) for i in range(count)]


@pytest.mark.parametrize(
    ("service", "count", "status"),
    [
        ("work_trial", 39, Status.OK),
        ("work_trial", 40, Status.DUE_SOON),  # warning at 45 - 5
        ("work_trial", 45, Status.DUE_SOON),
        ("work_trial", 46, Status.BREACHED),
        ("job_coaching", 89, Status.OK),
        ("job_coaching", 90, Status.DUE_SOON),
        ("job_coaching", 96, Status.BREACHED),
    ],
)
def test_day_quota(service: str, count: int, status: Status) -> None:
    """DAY-QUOTA: realized days counted; warn at quota - 5; breach past the quota."""
    deadline = one(
        "2025-09-01", "DAY-QUOTA", service=service, **STARTED, days=days(count, paid_work=True)
    )
    assert (deadline.status, deadline.count) == (status, count)
    assert len(deadline.details) == max(0, count - deadline.limit)


def test_day_quota_ignores_illness_days() -> None:
    """Absence days never count towards the quota."""
    items = days(45) + days(
        10, start="2025-06-01", status="absent_illness", hours_total=0, hours_at_workplace=0
    )
    deadline = one("2025-09-01", "DAY-QUOTA", **STARTED, days=items)
    assert deadline.count == 45
    assert deadline.status == Status.DUE_SOON


@pytest.mark.parametrize(
    ("fields", "offending"),
    [
        ({}, 0),
        ({"hours_total": 5.5}, 1),
        ({"hours_at_workplace": 4.5}, 1),
        ({"hours_total": 4.0, "hours_at_workplace": 4.0, "flex_reason": "reduced_capacity"}, 0),
        ({"hours_total": 4.0, "hours_at_workplace": 4.0, "flex_reason": "workplace"}, 1),
        ({"status": "absent_other", "hours_total": 0, "hours_at_workplace": 0}, 0),
    ],
)
def test_day_length(fields: dict[str, object], offending: int) -> None:
    """DAY-LENGTH: >= 6 h with >= 5 h at the workplace unless jousto."""
    deadline = one("2025-04-01", "DAY-LENGTH", **STARTED, days=[day("2025-03-11", **fields)])
    assert len(deadline.details) == offending
    assert deadline.status == (Status.BREACHED if offending else Status.OK)
    if fields.get("flex_reason") == "workplace":
        assert "never acceptable" in deadline.details[0]


def test_tv_paid_work() -> None:
    """TV-PAID-WORK: every realized job coaching day is paid; TK not applicable."""
    items = [
        day("2025-03-11", paid_work=True),
        day("2025-03-12"),
        day("2025-03-13", status="absent_illness", hours_total=0, hours_at_workplace=0),
    ]
    tv = one("2025-04-01", "TV-PAID-WORK", service="job_coaching", **STARTED, days=items)
    assert tv.status == Status.BREACHED
    assert tv.details == ("2025-03-12: realized without paid work",)
    assert one("2025-04-01", "TV-PAID-WORK", **STARTED).status == Status.NOT_APPLICABLE
    assert one("2025-04-01", "TV-PAID-WORK", service="job_coaching").status == Status.OK


@pytest.mark.parametrize(
    ("service", "fields", "workplace_on", "reason"),
    [
        ("work_trial", {}, "2025-03-11", None),
        ("work_trial", {}, None, "before the workplace phase"),
        ("work_trial", {}, "2025-03-12", "before the workplace phase"),
        ("work_trial", {"paid_work": True}, "2025-03-11", "paid work"),
        (
            "work_trial",
            {"status": "absent_illness", "hours_total": 0, "hours_at_workplace": 0},
            "2025-03-11",
            "absence day",
        ),
        ("job_coaching", {"paid_work": True}, "2025-03-11", "never billed in job coaching"),
    ],
)
def test_meals_pt8(
    service: str, fields: dict[str, object], workplace_on: str | None, reason: str | None
) -> None:
    """MEALS-PT8: only TK workplace phase, client not in paid work, never absent, never TV."""
    items = [day("2025-03-11", billed_price_types=[1, 8], **fields), day("2025-03-10")]
    deadline = one(
        "2025-04-01",
        "MEALS-PT8",
        service=service,
        **STARTED,
        days=items,
        workplace_phase_started_on=workplace_on,
    )
    if reason is None:
        assert deadline.status == Status.OK
    else:
        assert deadline.status == Status.BREACHED
        assert reason in deadline.details[0]


def test_absence_not_billed() -> None:
    """ABSENCE-NOT-BILLED: a billed absence day is listed."""
    items = [
        day(
            "2025-03-11",
            status="absent_illness",
            hours_total=0,
            hours_at_workplace=0,
            billed_price_types=[1, 8],
        ),
        day("2025-03-12", status="absent_other", hours_total=0, hours_at_workplace=0),
        day("2025-03-13", billed_price_types=[1]),
    ]
    deadline = one("2025-04-01", "ABSENCE-NOT-BILLED", **STARTED, days=items)
    assert deadline.status == Status.BREACHED
    assert deadline.details == ("2025-03-11: absent_illness billed as price type(s) 1, 8",)


def meetings(count: int, video: int = 0) -> list[dict[str, object]]:
    first = d("2025-03-10")
    return [
        meeting((first + timedelta(days=i)).isoformat(), mode="video" if i < video else "in_person")
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "status"),
    [(21, Status.OK), (22, Status.DUE_SOON), (25, Status.DUE_SOON), (26, Status.BREACHED)],
)
def test_tv_meetings_max(count: int, status: Status) -> None:
    """TV-MEETINGS-MAX: at most 25 meetings, warning at 22."""
    deadline = one(
        "2025-06-01", "TV-MEETINGS-MAX", service="job_coaching", **STARTED, meetings=meetings(count)
    )
    assert (deadline.status, deadline.count, deadline.limit) == (status, count, 25)
    assert len(deadline.details) == max(0, count - 25)
    assert one("2025-06-01", "TV-MEETINGS-MAX").status == Status.NOT_APPLICABLE


def test_tk_and_video_meeting_caps_unconfigured_by_default() -> None:
    """TK-MEETINGS-MAX and VIDEO-MEETINGS-MAX are unconfigured without values."""
    deadlines = run("2025-06-01", [case(**STARTED, meetings=meetings(3, video=2))])
    assert rule(deadlines, "TK-MEETINGS-MAX").status == Status.UNCONFIGURED
    assert rule(deadlines, "VIDEO-MEETINGS-MAX").status == Status.UNCONFIGURED
    tv = run("2025-06-01", [case(service="job_coaching")])
    assert rule(tv, "TK-MEETINGS-MAX").status == Status.NOT_APPLICABLE


def test_meeting_caps_with_overrides() -> None:
    """With provider overrides the caps count, and the override shows in explanations."""
    overrides = {"TK-MEETINGS-MAX.max": 10, "VIDEO-MEETINGS-MAX.work_trial": 2}
    deadlines = run(
        "2025-06-01",
        [case(**STARTED, meetings=meetings(10, video=3))],
        overrides=overrides,
        provider_id="p001",
    )
    tk = rule(deadlines, "TK-MEETINGS-MAX")
    assert (tk.status, tk.count, tk.limit) == (Status.DUE_SOON, 10, 10)  # warn at the cap
    video = rule(deadlines, "VIDEO-MEETINGS-MAX")
    assert (video.status, video.count) == (Status.BREACHED, 3)
    assert any("override for provider p001" in line for line in video.explanation)
    warned = run(
        "2025-06-01",
        [case(**STARTED, meetings=meetings(8))],
        overrides={"TK-MEETINGS-MAX.max": 10, "TK-MEETINGS-MAX.warn_at": 8},
    )
    assert rule(warned, "TK-MEETINGS-MAX").status == Status.DUE_SOON


@pytest.mark.parametrize(
    ("service", "first_meeting", "due"),
    [
        ("work_trial", "2025-03-10", "2025-08-10"),  # a Sunday: never rolled
        ("work_trial", "2025-09-30", "2026-02-28"),  # clipped
        ("job_coaching", "2025-01-31", "2026-02-28"),
    ],
)
def test_total_duration_due(service: str, first_meeting: str, due: str) -> None:
    """TOTAL-DURATION: 5 / 13 months from the first meeting, no roll."""
    deadline = one(
        "2025-03-15",
        "TOTAL-DURATION",
        service=service,
        decision_received_on="2025-01-02",
        first_meeting_on=first_meeting,
    )
    assert deadline.due_on == d(due)
    assert any("no roll" in line for line in deadline.explanation)


def test_total_duration_statuses() -> None:
    """waiting, met, met_late, breached by late days/meetings or time, at_risk, due_soon."""
    assert one("2025-03-05", "TOTAL-DURATION").status == Status.WAITING
    ended = {"end_reason": "completed", **STARTED}
    assert one("2025-09-01", "TOTAL-DURATION", ended_on="2025-08-10", **ended).status == Status.MET
    late = one("2025-09-01", "TOTAL-DURATION", ended_on="2025-08-11", **ended)
    assert late.status == Status.MET_LATE
    late_day = one(
        "2025-09-01",
        "TOTAL-DURATION",
        **STARTED,
        days=[day("2025-08-11")],
        meetings=[meeting("2025-08-12")],
    )
    assert late_day.status == Status.BREACHED
    assert late_day.details == (
        "2025-08-11: day after the service window",
        "2025-08-12: meeting after the service window",
    )
    assert one("2025-08-11", "TOTAL-DURATION", **STARTED).status == Status.BREACHED
    # 45 planned days cannot fit into the working days left before 10 August
    at_risk = one("2025-07-01", "TOTAL-DURATION", **STARTED)
    assert at_risk.status == Status.AT_RISK
    assert any("forecast" in line for line in at_risk.explanation)
    full = one("2025-08-05", "TOTAL-DURATION", **STARTED, days=days(45))
    assert full.status == Status.DUE_SOON
    assert one("2025-03-20", "TOTAL-DURATION", **STARTED).status == Status.OPEN


@pytest.mark.parametrize(
    ("fields", "today", "status", "detail"),
    [
        ({}, "2025-05-01", Status.WAITING, None),
        (
            {"ended_on": "2025-05-02", "end_reason": "interrupted"},
            "2025-05-05",
            Status.NOT_APPLICABLE,
            None,
        ),
        ({"ended_on": "2025-05-02"}, "2025-05-05", Status.NOT_APPLICABLE, None),
        (
            {"ended_on": "2025-05-02", "end_reason": "completed"},
            "2025-05-05",
            Status.BREACHED,
            None,
        ),
        (
            {"ended_on": "2025-05-02", "end_reason": "completed"},
            "2025-05-01",
            Status.DUE_SOON,
            None,
        ),
        (
            {
                "ended_on": "2025-05-02",
                "end_reason": "completed",
                "meetings": [meeting("2025-05-02", place="workplace", kind="final_discussion")],
            },
            "2025-05-05",
            Status.MET,
            None,
        ),
        (
            {
                "ended_on": "2025-05-02",
                "end_reason": "completed",
                "meetings": [meeting("2025-05-02", kind="final_discussion")],
            },
            "2025-05-05",
            Status.MET,
            "held at the office",
        ),
        (
            {
                "ended_on": "2025-05-02",
                "end_reason": "completed",
                "meetings": [
                    meeting("2025-05-02", place="network_partner", kind="final_discussion")
                ],
            },
            "2025-05-05",
            Status.BREACHED,
            "not at the workplace",
        ),
        (
            {
                "ended_on": "2025-05-02",
                "end_reason": "completed",
                "meetings": [
                    meeting("2025-05-02", place="workplace", minutes=45, kind="final_discussion")
                ],
            },
            "2025-05-05",
            Status.BREACHED,
            "45 min instead of 60",
        ),
        (
            {
                "ended_on": "2025-05-02",
                "end_reason": "completed",
                "meetings": [meeting("2025-05-03", place="workplace", kind="final_discussion")],
            },
            "2025-05-05",
            Status.BREACHED,
            "after ended_on",
        ),
    ],
)
def test_final_discussion(
    fields: dict[str, object], today: str, status: Status, detail: str | None
) -> None:
    """FINAL-DISCUSSION: 60 min at the workplace on/before the end of a completed case."""
    deadline = one(today, "FINAL-DISCUSSION", **STARTED, **fields)
    assert deadline.status == status
    if detail:
        assert any(detail in line for line in deadline.details)


@pytest.mark.parametrize(
    ("ended", "sent", "today", "due", "status"),
    [
        (None, None, "2025-05-01", None, Status.WAITING),
        ("2025-05-02", None, "2025-05-05", "2025-05-16", Status.OPEN),
        ("2025-05-02", "2025-05-16", "2025-05-20", "2025-05-16", Status.MET),
        ("2025-05-02", "2025-05-19", "2025-05-20", "2025-05-16", Status.MET_LATE),
        ("2025-05-02", None, "2025-05-17", "2025-05-16", Status.BREACHED),
        ("2025-12-10", None, "2025-12-22", "2025-12-29", Status.DUE_SOON),  # Christmas roll
    ],
)
def test_feedback_due(
    ended: str | None, sent: str | None, today: str, due: str | None, status: Status
) -> None:
    """FEEDBACK-DUE: ended_on + 14 days (provisional), rolled."""
    deadline = one(
        today,
        "FEEDBACK-DUE",
        **STARTED,
        ended_on=ended,
        end_reason="interrupted" if ended else None,
        feedback_sent_on=sent,
    )
    assert (deadline.status, deadline.due_on) == (status, d(due) if due else None)
    assert deadline.provisional == ("FEEDBACK-DUE.feedback_due_days",)
    assert any("PROVISIONAL" in line for line in deadline.explanation)


@pytest.mark.parametrize(
    ("pauses", "sent", "records", "status"),
    [
        ([], "2025-05-10", None, Status.NOT_APPLICABLE),
        ([("2025-03-12", "2025-03-14")], None, None, Status.WAITING),
        ([("2025-03-12", "2025-03-14")], "2025-05-10", True, Status.MET),
        ([("2025-03-12", "2025-03-14")], "2025-05-10", False, Status.BREACHED),
        ([("2025-03-12", "2025-03-14")], "2025-05-10", None, Status.BREACHED),
        ([("2025-04-14", "2025-04-16")], "2025-05-10", None, Status.NOT_APPLICABLE),
    ],
)
def test_feedback_records_extensions(
    pauses: list[tuple[str, str]], sent: str | None, records: bool | None, status: Status
) -> None:
    """FEEDBACK-RECORDS-EXTENSIONS: a used illness extension (begun by the due) is recorded."""
    items = [
        {"kind": "illness", "start_on": s, "end_on": e, "remote_participation_possible": False}
        for s, e in pauses
    ]
    deadline = one(
        "2025-05-20",
        "FEEDBACK-RECORDS-EXTENSIONS",
        **STARTED,
        pauses=items,
        ended_on="2025-05-02",
        end_reason="completed",
        feedback_sent_on=sent,
        feedback_records_extensions=records,
    )
    assert deadline.status == status
