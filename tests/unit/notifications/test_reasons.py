"""Alert reasons put into the recipient's language."""

from __future__ import annotations

from datetime import date

import pytest

from notifications.items import MessageItem, reason_fields
from notifications.messages import render_digest
from notifications.reasons import localized_reason

EXPLANATION = (
    "trigger: decision_received_on 2026-03-19",
    "base period: 14 days -> 2026-04-02",
    "extension: interpreter_unavailable 2026-03-23..2026-03-25 +3 d (days inside the window)",
    "roll: rolled over 2026-04-05 Easter Sunday, 2026-04-06 Easter Monday -> 2026-04-07",
    "event: first_meeting_on not yet recorded",
    "rule pack kela-tk-tv-2025",
)


def item(explanation: tuple[str, ...], details: tuple[str, ...] = ()) -> MessageItem:
    return MessageItem(
        provider_id="demo",
        subject_kind="case",
        subject="TK-1",
        rule="START-2W",
        stage="warn-7",
        status="due_soon",
        urgent=False,
        due_on=date(2026, 4, 7),
        days_left=6,
        **reason_fields(explanation, details),
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fi", "kuntoutuspäätös saapui 19.3.2026, pidennys 3 pv, siirtyi seuraavaan arkipäivään"),
        ("sv", "rehabiliteringsbeslutet kom 19.3.2026, förlängning 3 d, flyttad till nästa vardag"),
    ],
)
def test_timed_reason_in_finnish_and_swedish(language, expected):
    """Trigger, extension days and the roll are said in the recipient's language."""
    assert localized_reason(item(EXPLANATION), language) == expected


def test_english_reason_is_the_engine_summary():
    """English readers get the engine's own one-liner, without the pack lines."""
    reason = localized_reason(item(EXPLANATION), "en")
    assert reason.startswith("decision_received_on 2026-03-19; base period: 14 days")
    assert "rule pack" not in reason


def test_per_item_reason_lists_the_offending_dates():
    """A per-item rule names its dates; more than five are counted, not listed."""
    details = tuple(f"2025-11-{n:02d}: 5 h total" for n in range(1, 8))
    reason = localized_reason(item(("7 short day(s)", "rule pack x"), details), "fi")
    assert reason == "päivät 1.11.2025, 2.11.2025, 3.11.2025, 4.11.2025, 5.11.2025 (+2)"


def test_unknown_facts_are_left_out_rather_than_shown_in_english():
    """A reason the vocabulary cannot say in Finnish is omitted in Finnish, kept in English."""
    plain = item(("safety-related: escalate to Kela's contracting unit", "rule pack x"))
    assert localized_reason(plain, "fi") == ""
    assert localized_reason(plain, "en") == "safety-related: escalate to Kela's contracting unit"


def test_reason_survives_the_ledger_round_trip_and_reaches_the_digest():
    """The structured reason is stored with the item and rendered in the digest."""
    stored = MessageItem.from_json(item(EXPLANATION).to_json())
    assert stored == item(EXPLANATION)
    message = render_digest([stored], language="fi")
    assert "kuntoutuspäätös saapui 19.3.2026" in message.text
    assert "kuntoutuspäätös saapui 19.3.2026" in message.html


def test_a_long_digest_lists_the_most_urgent_and_counts_the_rest():
    """Past max_items the digest counts the rest per rule, so it stays readable and small."""
    many = [
        MessageItem(
            provider_id="demo",
            subject_kind="case",
            subject=f"TK-{n:03d}",
            rule="START-2W" if n % 2 else "DAY-LENGTH",
            stage="breach",
            status="breached",
            urgent=n < 10,
            due_on=date(2026, 4, 1),
            days_left=-1 - n,
        )
        for n in range(40)
    ]
    message = render_digest(many, language="en", max_items=5)
    assert message.title == "[!] Vahti: 40 deadlines, 10 urgent"
    assert message.text.count("TK-") == 5
    assert "35 more deadlines; the weekly compliance report lists them all:" in message.text
    assert message.html.count("<li>") == 2
    assert len(render_digest(many, language="en").text) > len(message.text)
