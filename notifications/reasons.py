"""The one-line reason of an alert item, in the recipient's language.

English gets the engine's own summary (``rules.summary``). Finnish and Swedish get the
same facts put into words: what started the clock and when, extension days, a roll to
the next working day, or the offending dates of a per-item rule. Facts the vocabulary
below does not cover are left out rather than shown in another language.
"""

from __future__ import annotations

from datetime import date

from notifications.items import MessageItem
from notifications.rule_titles import Language

#: What started a rule's clock, per language (the trigger fields of rules.md).
TRIGGERS: dict[str, dict[Language, str]] = {
    "decision_received_on": {
        "fi": "kuntoutuspäätös saapui",
        "sv": "rehabiliteringsbeslutet kom",
        "en": "decision received",
    },
    "first_contact_on": {
        "fi": "ensimmäinen yhteydenotto",
        "sv": "första kontakten",
        "en": "first contact",
    },
    "first_meeting_on": {
        "fi": "ensimmäinen tapaaminen",
        "sv": "första mötet",
        "en": "first meeting",
    },
    "workplace_phase_started_on": {
        "fi": "työskentely työpaikalla alkoi",
        "sv": "arbetet på arbetsplatsen började",
        "en": "workplace phase started",
    },
    "ended_on": {"fi": "palvelu päättyi", "sv": "tjänsten avslutades", "en": "service ended"},
    "visit_on": {"fi": "auditointikäynti", "sv": "auditeringsbesöket", "en": "audit visit"},
    "report_received_on": {
        "fi": "auditointikertomus saapui",
        "sv": "auditeringsrapporten kom",
        "en": "audit report received",
    },
}
_EXTENDED: dict[Language, str] = {
    "fi": "pidennys {days} pv",
    "sv": "förlängning {days} d",
    "en": "extended by {days} d",
}
_ROLLED: dict[Language, str] = {
    "fi": "siirtyi seuraavaan arkipäivään",
    "sv": "flyttad till nästa vardag",
    "en": "moved to the next working day",
}
_DATES: dict[Language, str] = {"fi": "päivät", "sv": "dagar", "en": "dates"}
_MAX_DATES = 5


def _day(value: date) -> str:
    return f"{value.day}.{value.month}.{value.year}"


def localized_reason(item: MessageItem, language: Language) -> str:
    """The item's reason in ``language``; English falls back to the engine's summary."""
    parts: list[str] = []
    words = TRIGGERS.get(item.trigger or "")
    if words is not None and item.trigger_on is not None:
        parts.append(f"{words[language]} {_day(item.trigger_on)}")
        if item.extension_days:
            parts.append(_EXTENDED[language].format(days=item.extension_days))
        if item.rolled:
            parts.append(_ROLLED[language])
    elif item.offending_on:
        shown = ", ".join(_day(on) for on in item.offending_on[:_MAX_DATES])
        more = (
            f" (+{len(item.offending_on) - _MAX_DATES})"
            if len(item.offending_on) > _MAX_DATES
            else ""
        )
        parts.append(f"{_DATES[language]} {shown}{more}")
    if language == "en":
        return item.reason or ", ".join(parts)
    return ", ".join(parts)
