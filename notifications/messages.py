"""Digest messages: one per recipient per run, rendered from jinja2 templates fi/sv/en.

Each item carries only the case (or audit/coach) reference, the rule in plain words, the
due date in Finnish style (``ti 7.4.2026``), days left or overdue, a one-line reason and
a link: never personal data. Markdown for chat, HTML and plain text for email.

Every provider-supplied string is made inert first (:mod:`notifications.safe_text`): one
line, no control or direction characters, no mentions, escaped for the format; a case
link is clickable only on its provider's ``case_link_origins`` (other links are shown
defanged, as text, in every format).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from models.ledger import BACKLOG_RULE
from notifications.items import MessageItem
from notifications.reasons import localized_reason
from notifications.reminder import Reminder, merge_summaries
from notifications.rule_titles import Language, rule_title
from notifications.safe_text import case_link, escape_markdown, plain

Format = Literal["markdown", "html", "text"]
LANGUAGES: tuple[Language, ...] = ("fi", "sv", "en")
WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "fi": ("ma", "ti", "ke", "to", "pe", "la", "su"),
    "sv": ("mån", "tis", "ons", "tors", "fre", "lör", "sön"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_TEMPLATE_FILES: dict[Format, str] = {
    "markdown": "digest.md.j2",
    "html": "digest.html.j2",
    "text": "digest.txt.j2",
}
#: Items listed in one digest; the rest are counted per rule.
DIGEST_MAX_ITEMS = 50


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered digest: a title and one body per format."""

    title: str
    markdown: str
    html: str
    text: str
    language: Language


def format_date(value: date, language: Language) -> str:
    """Finnish date style with a weekday: ``ti 7.4.2026``, ``tis 7.4.2026``, ``Tue 7.4.2026``."""
    return f"{WEEKDAYS[language][value.weekday()]} {value.day}.{value.month}.{value.year}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = lambda value: escape_markdown(str(value))
    return env


_ENV = _environment()


_FAR = 10_000  # the days left sorted for an item without a due date


def _order(urgent: bool, days_left: int | None, subject: str, rule: str) -> tuple[object, ...]:
    """A digest's order: urgent first, then the nearest due date, then the reference."""
    return (not urgent, _FAR if days_left is None else days_left, subject, rule)


def sort_items(items: list[MessageItem]) -> list[MessageItem]:
    """Urgent first, then the nearest due date, then the reference."""
    return sorted(items, key=lambda i: _order(i.urgent, i.days_left, i.subject, i.rule))


def _reminder_context(
    reminder: Reminder, language: Language, today: date | None, *, backlog: bool = False
) -> dict[str, object]:
    def overdue(due_on: date | None) -> int | None:
        return None if due_on is None or today is None else (today - due_on).days

    return {
        "backlog": backlog,
        "total": reminder.total,
        "providers": reminder.providers,
        "offices": reminder.offices,
        "rules": [
            {"title": rule_title(rule, language), "count": n} for rule, n in reminder.by_rule
        ],
        "top_offices": [
            {"provider": plain(provider, 64), "office": plain(office, 64), "count": n}
            for provider, office, n in reminder.by_office
        ],
        "oldest": [
            {
                "kind": ref.subject_kind,
                "subject": plain(ref.subject, 64),
                "provider": plain(ref.provider_id, 64),
                "title": rule_title(ref.rule, language),
                "due": format_date(ref.due_on, language) if ref.due_on else None,
                "overdue": overdue(ref.due_on),
            }
            for ref in reminder.oldest
        ],
    }


def render_digest(
    items: list[MessageItem],
    *,
    language: Language,
    max_items: int = DIGEST_MAX_ITEMS,
    today: date | None = None,
    link_origins: Mapping[str, Collection[str]] | None = None,
) -> Message:
    """One digest in ``language``: the most urgent ``max_items`` listed, the rest counted.

    A digest stays readable (and within what mail servers accept) whatever the number
    of alerts: items past ``max_items`` are summarised as counts per rule, with a pointer
    to the compliance report that lists them all. Every item is delivered either way.
    A breach reminder (the newest one, when a retry carries several) leads the digest as
    a summary section, and so do the backlog summaries (merged into one section);
    ``today`` dates its "days overdue".
    """
    reminders = [item for item in items if item.reminder is not None]
    ordered = sort_items([item for item in items if item.reminder is None])
    return _render(
        ordered[:max_items],
        count=len(ordered),
        urgent_count=sum(item.urgent for item in ordered),
        more=Counter(item.rule for item in ordered[max_items:]),
        summaries=reminders,
        language=language,
        today=today,
        link_origins=link_origins or {},
    )


def render_stored_digest(
    stored: Iterable[str | bytes],
    *,
    language: Language,
    max_items: int = DIGEST_MAX_ITEMS,
    today: date | None = None,
    link_origins: Mapping[str, Collection[str]] | None = None,
) -> Message:
    """:func:`render_digest` of ledger items as stored (:meth:`MessageItem.to_json`).

    A digest lists 50 items of what may be tens of thousands: only the listed ones and
    the reminders are read into items; the rest are sorted and counted from their JSON.
    """
    keyed: list[tuple[tuple[object, ...], int, dict[str, Any]]] = []
    reminders: list[MessageItem] = []
    for index, text in enumerate(stored):
        data = orjson.loads(text)
        if data.get("reminder"):
            reminders.append(MessageItem.from_json(data, today=today))
            continue
        due = data.get("due_on")
        days = data.get("days_left")
        if today is not None and isinstance(due, str):
            days = (date.fromisoformat(due) - today).days  # as MessageItem.from_json sets it
        keyed.append((_order(data["urgent"], days, data["subject"], data["rule"]), index, data))
    keyed.sort(key=lambda key: key[:2])  # sort_items' order; ties as stored
    return _render(
        [MessageItem.from_json(data, today=today) for _, _, data in keyed[:max_items]],
        count=len(keyed),
        urgent_count=sum(bool(data["urgent"]) for _, _, data in keyed),
        more=Counter(data["rule"] for _, _, data in keyed[max_items:]),
        summaries=reminders,
        language=language,
        today=today,
        link_origins=link_origins or {},
    )


def _row(item: MessageItem, language: Language, origins: Collection[str]) -> dict[str, object]:
    """One listed item: provider text made inert, the link only on the provider's origins."""
    link, link_text = case_link(item.link, origins)
    inert = replace(
        item,
        subject=plain(item.subject, 64),
        provider_id=plain(item.provider_id, 64),
        reason=plain(item.reason),
    )
    return {
        "item": inert,
        "title": rule_title(item.rule, language),
        "due": format_date(item.due_on, language) if item.due_on else None,
        "reason": plain(localized_reason(inert, language)),
        "link": link,
        "link_text": link_text,
    }


def _render(
    shown: list[MessageItem],
    *,
    count: int,
    urgent_count: int,
    more: Counter[str],
    summaries: list[MessageItem],
    language: Language,
    today: date | None,
    link_origins: Mapping[str, Collection[str]],
) -> Message:
    daily = [item for item in summaries if item.rule != BACKLOG_RULE]
    newest = max(daily, key=lambda item: item.stage, default=None)
    backlogs = [item.reminder for item in summaries if item.rule == BACKLOG_RULE]
    rows = [_row(item, language, link_origins.get(item.provider_id, ())) for item in shown]
    context = {
        "rows": rows,
        "urgent": [row for row, item in zip(rows, shown, strict=True) if item.urgent],
        "other": [row for row, item in zip(rows, shown, strict=True) if not item.urgent],
        "count": count,
        "urgent_count": urgent_count,
        "more": [
            {"title": rule_title(rule, language), "count": n} for rule, n in more.most_common()
        ],
        "more_count": sum(more.values()),
        "reminder": (
            _reminder_context(newest.reminder, language, today)
            if newest is not None and newest.reminder is not None
            else None
        ),
        "backlog": (
            _reminder_context(
                merge_summaries([b for b in backlogs if b is not None]),
                language,
                today,
                backlog=True,
            )
            if backlogs
            else None
        ),
    }
    title = _ENV.get_template(f"{language}/subject.txt.j2").render(context).strip()
    bodies = {
        fmt: _ENV.get_template(f"{language}/{name}").render(context)
        for fmt, name in _TEMPLATE_FILES.items()
    }
    return Message(
        title=title,
        markdown=bodies["markdown"],
        html=bodies["html"],
        text=bodies["text"],
        language=language,
    )
