"""The daily breach reminder: what it counts, what it leaves out, how it reads."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest

from models.candidates import BreachedRef
from models.ledger import BACKLOG_RULE, REMINDER_RULE, Suppression
from notifications.items import MessageItem
from notifications.messages import render_digest, render_stored_digest
from notifications.reminder import (
    Reminder,
    merge_summaries,
    still_breached,
    summarize_breaches,
)

TODAY = date(2026, 4, 14)


def ref(subject: str, rule: str = "START-2W", *, office: str | None = "o1", days: int = 3):
    return BreachedRef("p1", "case", subject, rule, office, TODAY - timedelta(days=days))


def test_summary_counts_by_rule_and_office_and_lists_the_most_overdue():
    """Totals cover everything; groups are largest first; the oldest due date leads."""
    refs = [ref(f"TK-{n}", days=n) for n in range(1, 16)]
    refs += [ref("TV-1", "FEEDBACK-DUE", office=None, days=40)]
    refs += [BreachedRef("p2", "audit", "AUD-1", "AUDIT-RESPONSE-4W", None, None)]
    summary = summarize_breaches(refs, top=3)
    assert (summary.total, summary.providers, summary.offices) == (17, 2, 3)
    assert summary.by_rule == (("START-2W", 15), ("AUDIT-RESPONSE-4W", 1), ("FEEDBACK-DUE", 1))
    assert summary.by_office == (("p1", "o1", 15), ("p1", "-", 1), ("p2", "-", 1))
    assert [r.subject for r in summary.oldest] == ["TV-1", "TK-15", "TK-14"]


def test_alerted_and_suppressed_breaches_are_left_out():
    """Breaches alerted in this run and acked/silenced ones are not reminded of."""
    refs = [ref("TK-1"), ref("TK-2"), ref("TK-3"), ref("TK-4", "WORKPLACE-1M")]
    ack = Suppression("ack", "TK-2", "START-2W", "Kela informed", "lv")
    expired = Suppression("silence", "TK-3", "START-2W", "x", "lv", until_on=TODAY - timedelta(1))
    other_provider = Suppression("ack", "TK-4", "WORKPLACE-1M", "x", "lv", provider_id="p9")
    kept = still_breached(
        refs,
        alerted={("p1", "case", "TK-1", "START-2W")},
        suppressions=[ack, expired, other_provider],
        today=TODAY,
    )
    assert [r.subject for r in kept] == ["TK-3", "TK-4"]


def test_a_reminder_survives_the_ledger_json():
    """What is written to the ledger renders the same summary on a retry."""
    summary = summarize_breaches([ref("TK-1"), ref("TV-2", office=None), ref("AUD-1", days=0)])
    item = MessageItem(
        provider_id="*",
        subject_kind="provider",
        subject="all",
        rule=REMINDER_RULE,
        stage=f"breach-repeat-{TODAY.isoformat()}",
        status="breached",
        urgent=True,
        count=summary.total,
        reminder=summary,
    )
    assert MessageItem.from_json(item.to_json()) == item
    assert Reminder.from_json(summary.to_json()) == summary


@pytest.mark.parametrize(
    ("language", "heading", "total"),
    [
        ("fi", "Yhä ylitetyt määräajat", "Ylitettynä on yhä 2 määräaikaa"),
        ("sv", "Fortfarande överskridna tidsfrister", "2 tidsfrister är fortfarande överskridna"),
        ("en", "Deadlines still breached", "2 deadlines are still breached"),
    ],
)
def test_the_reminder_leads_the_digest_in_each_language(language, heading, total):
    """A summary section first (escaped in HTML), then the day's own items."""
    summary = summarize_breaches([ref("<TK-1>", days=10), ref("TK-2", days=2)])
    reminder = MessageItem(
        "*", "provider", "all", REMINDER_RULE, "breach-repeat-2026-04-14", "breached", True,
        count=2, reminder=summary,
    )  # fmt: skip
    warning = MessageItem(
        "p1", "case", "TK-9", "START-2W", "warn-3", "due_soon", False, due_on=TODAY, days_left=3
    )
    message = render_digest([warning, reminder], language=language, today=TODAY)  # type: ignore[arg-type]
    for body in (message.text.lower(), message.markdown.lower(), message.html.lower()):
        assert heading.lower() in body
        assert total.lower() in body
        assert body.index(heading.lower()) < body.index("tk-9")
    assert "\u2039TK-1\u203a" in message.html  # inert: no tag, no mention
    assert "<TK-1>" not in message.html
    assert message.title.startswith("[!] Vahti: 1 ")
    assert message.title.endswith(" 2")
    alone = render_digest([reminder], language=language, today=TODAY)  # type: ignore[arg-type]
    assert " 0 " not in alone.title


@pytest.mark.parametrize("language", ["fi", "en"])
def test_a_digest_rendered_from_the_ledger_json_is_the_digest_of_the_items(language):
    """Delivery reads only the listed items whole: the message is the same to the byte,
    with ties (one deadline's warning and breach), undated items, two reminders and more
    items than are listed."""
    summary = summarize_breaches([ref("TK-1", days=10), ref("TK-2", days=2)])
    items = [
        MessageItem(
            "p1", "case", f"TK-{n % 7}", ("START-2W", "DAY-LENGTH", "FEEDBACK-DUE")[n % 3],
            ("warn-3", "breach")[n % 2], ("due_soon", "breached")[n % 2], n % 4 == 0,
            due_on=None if n % 5 == 0 else TODAY + timedelta(days=n % 9 - 4), days_left=n,
        )
        for n in range(40)
    ]  # fmt: skip
    items += [
        MessageItem(
            "*", "provider", "all", REMINDER_RULE, f"breach-repeat-2026-04-{day}", "breached",
            True, count=2, reminder=summary,
        )
        for day in (13, 14)
    ]  # fmt: skip
    stored = [orjson.dumps(item.to_json()) for item in reversed(items)]
    for max_items in (5, 50):
        expected = render_digest(
            [MessageItem.from_json(orjson.loads(text), today=TODAY) for text in stored],
            language=language,
            max_items=max_items,
            today=TODAY,
        )
        assert (
            render_stored_digest(stored, language=language, max_items=max_items, today=TODAY)
            == expected
        )


def test_a_backlog_summary_lists_the_most_recent_and_merges_across_providers():
    """Backlog summaries list the newest breaches first; two providers' add up exactly."""
    one = summarize_breaches([ref(f"TK-{n}", days=20 + n) for n in range(5)], newest_first=True)
    assert [r.subject for r in one.oldest] == ["TK-0", "TK-1", "TK-2", "TK-3", "TK-4"]
    other = summarize_breaches(
        [BreachedRef("p2", "case", "X-1", "FEEDBACK-DUE", "o9", TODAY - timedelta(days=16))],
        newest_first=True,
    )
    merged = merge_summaries([one, other])
    assert (merged.total, merged.providers, merged.offices) == (6, 2, 2)
    assert merged.by_rule == (("START-2W", 5), ("FEEDBACK-DUE", 1))
    assert merged.by_office == (("p1", "o1", 5), ("p2", "o9", 1))
    assert [r.subject for r in merged.oldest][:2] == ["X-1", "TK-0"]


@pytest.mark.parametrize(
    ("language", "heading", "subject"),
    [
        ("fi", "Aiemmat ylitykset", "Vahti: aiempia ylityksiä 2"),
        ("sv", "Tidigare överskridanden", "Vahti: tidigare överskridanden 2"),
        ("en", "Earlier breaches", "Vahti: earlier breaches 2"),
    ],
)
def test_a_backlog_summary_reads_as_one_quiet_section(language, heading, subject):
    """A backlog digest has its own heading and a subject without the urgent mark."""
    summary = summarize_breaches([ref("TK-1", days=30), ref("TK-2", days=20)], newest_first=True)
    item = MessageItem(
        provider_id="p1",
        subject_kind="provider",
        subject="p1",
        rule=BACKLOG_RULE,
        stage="backlog-2026-04-14",
        status="breached",
        urgent=False,
        reminder=summary,
    )
    message = render_stored_digest([orjson.dumps(item.to_json())], language=language, today=TODAY)
    assert message.title == subject
    for body in (message.text, message.markdown, message.html):
        assert heading.lower() in body.lower()
        assert "TK-2" in body
    assert message.text.index("TK-2") < message.text.index("TK-1")  # newest first
