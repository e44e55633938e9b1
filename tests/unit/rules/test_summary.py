"""One-line reasons read back from the engine's explanations."""

from __future__ import annotations

from datetime import date

import pytest

from rules.summary import ReasonParts, reason_parts, summary

PACK = ["rule pack kela-tk-tv-2025", "START-2W.days = 14 (SEED, high)"]
START = [
    "trigger: decision_received_on 2026-03-19",
    "base period: 14 days -> 2026-04-02",
    "extension: interpreter_unavailable 2026-03-23..2026-03-25 +3 d (days inside the window)",
    "roll: rolled over 2026-04-05 Easter Sunday, 2026-04-06 Easter Monday -> 2026-04-07",
    "event: first_meeting_on not yet recorded",
    *PACK,
]


@pytest.mark.parametrize(
    ("explanation", "details", "expected"),
    [
        (
            START,
            (),
            (
                "decision_received_on 2026-03-19; base period: 14 days -> 2026-04-02; "
                "extension: interpreter_unavailable 2026-03-23..2026-03-25 +3 d (days inside the "
                "window); roll: rolled over 2026-04-05 Easter Sunday, 2026-04-06 Easter Monday -> "
                "2026-04-07; first_meeting_on not yet recorded"
            ),
        ),
        (
            [
                "trigger: first_meeting_on 2026-01-13",
                "base period: 5 months, same day number clipped -> 2026-06-13",
                "no extension of any kind",
                "no roll (service-window end)",
                "event: ended_on 2026-02-27",
                *PACK,
            ],
            (),
            (
                "first_meeting_on 2026-01-13; base period: 5 months, same day number clipped -> "
                "2026-06-13; ended_on 2026-02-27"
            ),
        ),
        (
            ["trigger: ended_on 2026-02-27", "roll: 2026-03-13 is a working day, no roll", *PACK],
            (),
            "ended_on 2026-02-27",
        ),
        (["1 short day(s)", *PACK], ["2025-11-04: 5 h total"], "1 short day(s): 2025-11-04"),
        (
            ["7 short day(s)", *PACK],
            [f"2025-11-0{n}: 5 h total" for n in range(1, 8)],
            "7 short day(s): 2025-11-01, 2025-11-02, 2025-11-03, 2025-11-04, 2025-11-05 (+2 more)",
        ),
        (
            ["23 meeting(s) of at most 25; warning at 22", *PACK],
            ["not a date"],
            ("23 meeting(s) of at most 25; warning at 22"),
        ),
        (PACK, (), ""),
    ],
)
def test_summary_keeps_the_reasons_and_drops_the_pack_lines(explanation, details, expected):
    """The summary names trigger, period, extensions, a real roll and the event, nothing else."""
    assert summary(explanation, details) == expected


def test_reason_parts_read_trigger_extensions_roll_and_dates():
    """Structured parts come back exactly as the engine wrote them."""
    parts = reason_parts(
        [*START[:3], "extension: illness without remote participation +14 d (capped)", *START[3:]]
    )
    assert parts == ReasonParts(
        trigger="decision_received_on",
        trigger_on=date(2026, 3, 19),
        extension_days=17,
        rolled=True,
        offending_on=(),
        headline="trigger: decision_received_on 2026-03-19",
    )
    per_item = reason_parts(["2 short day(s)", *PACK], ["2025-11-04: a", "2025-11-06: b", "x"])
    assert per_item.trigger is None
    assert per_item.offending_on == (date(2025, 11, 4), date(2025, 11, 6))
    assert reason_parts([]) == ReasonParts()
