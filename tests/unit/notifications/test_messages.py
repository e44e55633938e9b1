"""Digest rendering: languages, Finnish date style, rule titles, ordering, no personal data."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from notifications.items import MessageItem, clean_reason
from notifications.messages import LANGUAGES, format_date, render_digest
from notifications.rule_titles import RULE_TITLES, rule_title

RULES_MD = Path(__file__).resolve().parents[3] / ".." / "shared" / "spec" / "rules.md"


def item(subject: str, **kw: object) -> MessageItem:
    base: dict[str, object] = {
        "provider_id": "p1",
        "subject_kind": "case",
        "subject": subject,
        "rule": "START-2W",
        "stage": "warn-3",
        "status": "due_soon",
        "urgent": False,
        "due_on": date(2026, 4, 7),
        "days_left": 3,
        "reason": "decision received + 14 d",
        "link": f"https://provider.example/cases/{subject}",
    }
    base.update(kw)
    return MessageItem(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "text"),
    [("fi", "ti 7.4.2026"), ("sv", "tis 7.4.2026"), ("en", "Tue 7.4.2026")],
)
def test_finnish_date_style_per_language(language, text):
    """Dates read 'ti 7.4.2026' with the weekday in the recipient's language."""
    assert format_date(date(2026, 4, 7), language) == text


def test_every_rule_of_the_catalogue_has_a_title_in_three_languages():
    """Each rule id in rules.md's tables has a plain-words title in fi, sv and en."""
    if RULES_MD.exists():
        ids = set(
            re.findall(r"^\| ([A-Z][A-Z0-9-]+[A-Z0-9]) \|", RULES_MD.read_text(), re.MULTILINE)
        )
        ids.discard("id")
        assert ids <= set(RULE_TITLES)
    for titles in RULE_TITLES.values():
        assert set(titles) == set(LANGUAGES)
    assert rule_title("NEW-RULE", "fi") == "NEW-RULE"


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "fi",
            [
                "Kiireelliset",
                "Muut",
                "ti 7.4.2026",
                "3 päivää jäljellä",
                "2 päivää myöhässä",
                "Kuntoutus alkaa 2 viikon kuluessa",
            ],
        ),
        (
            "sv",
            [
                "Brådskande",
                "Övriga",
                "tis 7.4.2026",
                "3 dagar kvar",
                "2 dagar försenad",
                "Rehabiliteringen börjar inom 2 veckor",
            ],
        ),
        (
            "en",
            [
                "Urgent",
                "Other",
                "Tue 7.4.2026",
                "3 days left",
                "2 days overdue",
                "Rehabilitation starts within 2 weeks",
            ],
        ),
    ],
)
def test_digest_in_each_language_has_urgent_first(language, words):
    """Each format carries the localized words; the urgent section comes before the rest."""
    items = [
        item("TK-1"),
        item("TK-2", stage="breach", status="breached", urgent=True, days_left=-2),
    ]
    message = render_digest(items, language=language)
    for body in (message.markdown, message.text, message.html):
        for word in words:
            assert word.lower() in body.lower()
        assert body.index("TK-2") < body.index("TK-1")
    assert message.title.startswith("[!] Vahti: 2")
    assert message.language == language


@pytest.mark.parametrize(
    ("days", "fi", "en"),
    [
        (1, "1 päivä jäljellä", "1 day left"),
        (0, "erääntyy tänään", "due today"),
        (-1, "1 päivä myöhässä", "1 day overdue"),
    ],
)
def test_days_phrases(days, fi, en):
    """Singular, today and overdue phrases are right."""
    one = [item("TK-1", days_left=days)]
    assert fi in render_digest(one, language="fi").text
    assert en in render_digest(one, language="en").text


def test_counted_limit_shows_count_and_limit_and_no_link_without_one():
    """A counted rule shows count/limit; an item without link has no link line."""
    counted = item(
        "TV-1",
        rule="TV-MEETINGS-MAX",
        stage="warn-count",
        due_on=None,
        days_left=None,
        count=22,
        limit=25,
        link=None,
    )
    text = render_digest([counted], language="en").text
    assert "22/25" in text
    assert "Open the case" not in text
    assert "Job coaching has at most 25 meetings" in text


def test_html_escapes_and_markdown_escapes():
    """Hostile text in a reason cannot inject HTML or Markdown links."""
    hostile = item("TK-<b>", reason="<script>x</script> [a](http://evil)")
    message = render_digest([hostile], language="en")
    assert "<script>" not in message.html
    assert "\u2039script\u203a" in message.html
    assert "[a](http://evil)" not in message.markdown


def test_reason_is_one_clean_line_without_identity_codes():
    """The first explanation line only, whitespace folded, identity codes removed, bounded."""
    assert clean_reason(["first  line\nwrapped 010190-123M", "second"]) == (
        "first line wrapped [removed]"
    )
    assert clean_reason(["lower case 150375-123d and glued x131052-308T"]) == (
        "lower case [removed] and glued x[removed]"
    )
    assert clean_reason([]) == ""
    assert len(clean_reason(["x" * 500])) == 200


def test_message_item_round_trips_through_json():
    """The ledger stores the item as JSON and renders the same item back."""
    original = item("TK-9")
    assert MessageItem.from_json(original.to_json()) == original
    undated = item("TK-9", due_on=None)
    assert MessageItem.from_json(undated.to_json()) == undated


def test_message_item_read_back_on_a_later_day_counts_its_days_left_from_then():
    """A retry sent days after the alert was planned says how many days are left now."""
    planned = item("TK-9")  # due 7.4., 3 days left when planned on 4.4.
    assert MessageItem.from_json(planned.to_json(), today=date(2026, 4, 6)).days_left == 1
    assert MessageItem.from_json(planned.to_json(), today=date(2026, 4, 9)).days_left == -2
    undated = item("TK-9", due_on=None, days_left=None)
    assert MessageItem.from_json(undated.to_json(), today=date(2026, 4, 9)).days_left is None
