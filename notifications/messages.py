"""Digest messages: one per recipient per run, rendered from jinja2 templates fi/sv/en.

Each item carries only the case (or audit/coach) reference, the rule in plain words, the
due date in Finnish style (``ti 7.4.2026``), days left or overdue, a one-line reason and
a link: never personal data. Markdown for chat, HTML and plain text for email.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypedDict

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.reasons import localized_reason
from notifications.reminder import Reminder
from notifications.rule_titles import Language, rule_title
from rules.summary import reason_parts, summary

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
#: Finnish personal identity codes (henkilötunnus) never leave Vahti, even in a reason.
_IDENTITY_CODE = re.compile(r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b")
_MAX_REASON = 200
#: Items listed in one digest; the rest are counted per rule.
DIGEST_MAX_ITEMS = 50


class ReasonFields(TypedDict):
    """A deadline's reason as MessageItem fields."""

    reason: str
    trigger: str | None
    trigger_on: date | None
    extension_days: int
    rolled: bool
    offending_on: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class MessageItem:
    """One alert in a digest, as stored in the ledger (so a retry renders the same text)."""

    provider_id: str
    subject_kind: str
    subject: str
    rule: str
    stage: str
    status: str
    urgent: bool
    due_on: date | None = None
    days_left: int | None = None
    reason: str = ""  # English one-liner (rules.summary); other languages use the parts
    link: str | None = None
    count: int | None = None
    limit: int | None = None
    trigger: str | None = None  # the field that started the clock
    trigger_on: date | None = None
    extension_days: int = 0
    rolled: bool = False
    offending_on: tuple[date, ...] = ()
    reminder: Reminder | None = None  # the daily breach reminder's summary (no other item)

    def to_json(self) -> dict[str, object]:
        """Every field, dates as ISO text (built by hand: ``asdict`` costs 20x more)."""
        return {
            "provider_id": self.provider_id,
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "rule": self.rule,
            "stage": self.stage,
            "status": self.status,
            "urgent": self.urgent,
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "days_left": self.days_left,
            "reason": self.reason,
            "link": self.link,
            "count": self.count,
            "limit": self.limit,
            "trigger": self.trigger,
            "trigger_on": self.trigger_on.isoformat() if self.trigger_on else None,
            "extension_days": self.extension_days,
            "rolled": self.rolled,
            "offending_on": [on.isoformat() for on in self.offending_on],
            "reminder": self.reminder.to_json() if self.reminder else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, object], *, today: date | None = None) -> MessageItem:
        """The item :meth:`to_json` wrote; with ``today``, its days left as of that day (a
        retry may be sent days after the alert was planned)."""
        values = dict(data)
        due = values.get("due_on")
        due_on = date.fromisoformat(due) if isinstance(due, str) else None
        values["due_on"] = due_on
        if today is not None and due_on is not None:
            values["days_left"] = (due_on - today).days
        trigger_on = values.get("trigger_on")
        values["trigger_on"] = (
            date.fromisoformat(trigger_on) if isinstance(trigger_on, str) else None
        )
        offending = values.get("offending_on")
        values["offending_on"] = tuple(
            date.fromisoformat(str(on)) for on in (offending if isinstance(offending, list) else [])
        )
        reminder = values.get("reminder")
        values["reminder"] = Reminder.from_json(reminder) if isinstance(reminder, dict) else None
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered digest: a title and one body per format."""

    title: str
    markdown: str
    html: str
    text: str
    language: Language


def clean_reason(
    explanation: tuple[str, ...] | list[str], details: tuple[str, ...] | list[str] = ()
) -> str:
    """The engine's one-line summary, identity-code patterns removed, bounded."""
    line = " ".join(_IDENTITY_CODE.sub("[removed]", summary(explanation, details)).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


def reason_fields(
    explanation: tuple[str, ...] | list[str], details: tuple[str, ...] | list[str] = ()
) -> ReasonFields:
    """The MessageItem fields that carry a deadline's reason (English and structured)."""
    parts = reason_parts(explanation, details)
    return {
        "reason": clean_reason(explanation, details),
        "trigger": parts.trigger,
        "trigger_on": parts.trigger_on,
        "extension_days": parts.extension_days,
        "rolled": parts.rolled,
        "offending_on": parts.offending_on,
    }


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
    env.filters["md"] = _markdown_escape
    return env


def _markdown_escape(value: object) -> str:
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", str(value))


_ENV = _environment()


_FAR = 10_000  # the days left sorted for an item without a due date


def _order(urgent: bool, days_left: int | None, subject: str, rule: str) -> tuple[object, ...]:
    """A digest's order: urgent first, then the nearest due date, then the reference."""
    return (not urgent, _FAR if days_left is None else days_left, subject, rule)


def sort_items(items: list[MessageItem]) -> list[MessageItem]:
    """Urgent first, then the nearest due date, then the reference."""
    return sorted(items, key=lambda i: _order(i.urgent, i.days_left, i.subject, i.rule))


def _reminder_context(
    reminder: Reminder, language: Language, today: date | None
) -> dict[str, object]:
    def overdue(due_on: date | None) -> int | None:
        return None if due_on is None or today is None else (today - due_on).days

    return {
        "total": reminder.total,
        "providers": reminder.providers,
        "offices": reminder.offices,
        "rules": [
            {"title": rule_title(rule, language), "count": n} for rule, n in reminder.by_rule
        ],
        "top_offices": [
            {"provider": provider, "office": office, "count": n}
            for provider, office, n in reminder.by_office
        ],
        "oldest": [
            {
                "kind": ref.subject_kind,
                "subject": ref.subject,
                "provider": ref.provider_id,
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
) -> Message:
    """One digest in ``language``: the most urgent ``max_items`` listed, the rest counted.

    A digest stays readable (and within what mail servers accept) whatever the number
    of alerts: items past ``max_items`` are summarised as counts per rule, with a pointer
    to the compliance report that lists them all. Every item is delivered either way.
    A breach reminder (the newest one, when a retry carries several) leads the digest as
    a summary section; ``today`` dates its "days overdue".
    """
    reminders = [item for item in items if item.reminder is not None]
    ordered = sort_items([item for item in items if item.reminder is None])
    return _render(
        ordered[:max_items],
        count=len(ordered),
        urgent_count=sum(item.urgent for item in ordered),
        more=Counter(item.rule for item in ordered[max_items:]),
        newest=max(reminders, key=lambda item: item.stage, default=None),
        language=language,
        today=today,
    )


def render_stored_digest(
    stored: Iterable[str | bytes],
    *,
    language: Language,
    max_items: int = DIGEST_MAX_ITEMS,
    today: date | None = None,
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
        newest=max(reminders, key=lambda item: item.stage, default=None),
        language=language,
        today=today,
    )


def _render(
    shown: list[MessageItem],
    *,
    count: int,
    urgent_count: int,
    more: Counter[str],
    newest: MessageItem | None,
    language: Language,
    today: date | None,
) -> Message:
    rows = [
        {
            "item": item,
            "title": rule_title(item.rule, language),
            "due": format_date(item.due_on, language) if item.due_on else None,
            "reason": localized_reason(item, language),
        }
        for item in shown
    ]
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
