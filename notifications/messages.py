"""Digest messages: one per recipient per run, rendered from jinja2 templates fi/sv/en.

Each item carries only the case (or audit/coach) reference, the rule in plain words, the
due date in Finnish style (``ti 7.4.2026``), days left or overdue, a one-line reason and
a link: never personal data. Markdown for chat, HTML and plain text for email.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.rule_titles import Language, rule_title

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
    reason: str = ""
    link: str | None = None
    count: int | None = None
    limit: int | None = None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["due_on"] = self.due_on.isoformat() if self.due_on else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> MessageItem:
        values = dict(data)
        due = values.get("due_on")
        values["due_on"] = date.fromisoformat(due) if isinstance(due, str) else None
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered digest: a title and one body per format."""

    title: str
    markdown: str
    html: str
    text: str
    language: Language


def clean_reason(explanation: tuple[str, ...] | list[str]) -> str:
    """The first explanation line, identity-code patterns removed, one line, bounded."""
    first = explanation[0] if explanation else ""
    line = " ".join(_IDENTITY_CODE.sub("[removed]", first).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


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


def sort_items(items: list[MessageItem]) -> list[MessageItem]:
    """Urgent first, then the nearest due date, then the reference."""
    far = 10_000
    return sorted(
        items,
        key=lambda i: (
            not i.urgent,
            i.days_left if i.days_left is not None else far,
            i.subject,
            i.rule,
        ),
    )


def render_digest(items: list[MessageItem], *, language: Language) -> Message:
    """One digest in ``language`` with the urgent items first."""
    ordered = sort_items(items)
    rows = [
        {
            "item": item,
            "title": rule_title(item.rule, language),
            "due": format_date(item.due_on, language) if item.due_on else None,
        }
        for item in ordered
    ]
    context = {
        "rows": rows,
        "urgent": [row for row, item in zip(rows, ordered, strict=True) if item.urgent],
        "other": [row for row, item in zip(rows, ordered, strict=True) if not item.urgent],
        "count": len(rows),
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
