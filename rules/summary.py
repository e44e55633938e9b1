"""One-line reasons from a deadline's explanation, for reports and alert messages.

The engine writes every explanation in one fixed vocabulary (see ``rules/explain.py``):
``trigger: FIELD DATE``, ``base period: ...``, ``extension: ...``, ``roll: ...``,
``case ended on ...``, ``event: ...``, then ``rule pack ID`` and one line per parameter.
This module reads that vocabulary back: :func:`summary` gives an English one-liner
without the pack lines, :func:`reason_parts` the structured facts a message needs to
say the same thing in Finnish or Swedish. Pure: strings in, strings out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

_TRIGGER = re.compile(r"^trigger: (?P<field>[a-z_]+) (?P<on>\d{4}-\d{2}-\d{2})\b")
_EXTENSION = re.compile(r"^extension: .* \+(?P<days>\d+) d\b")
_LEADING_DATE = re.compile(r"^(?P<on>\d{4}-\d{2}-\d{2})\b")
_PACK_LINE = "rule pack "
_MAX_DATES = 5
#: Lines that only say that nothing moved the date.
_QUIET = ("no roll", "no extension of any kind")


@dataclass(frozen=True, slots=True)
class ReasonParts:
    """The facts behind a deadline, ready to be put into words in any language."""

    trigger: str | None = None  # the field that started the clock, e.g. decision_received_on
    trigger_on: date | None = None
    extension_days: int = 0
    rolled: bool = False  # the due date moved to the next working day
    offending_on: tuple[date, ...] = ()  # per-item rules: the dates that break the rule
    headline: str = ""  # the first explanation line (English)


def _reasons(explanation: Sequence[str]) -> list[str]:
    """The explanation without the rule-pack and parameter lines."""
    lines: list[str] = []
    for line in explanation:
        if line.startswith(_PACK_LINE):
            break
        lines.append(line)
    return lines


def reason_parts(explanation: Sequence[str], details: Sequence[str] = ()) -> ReasonParts:
    """Structured facts read from an explanation (and a per-item rule's details)."""
    lines = _reasons(explanation)
    trigger = trigger_on = None
    match = _TRIGGER.match(lines[0]) if lines else None
    if match:
        trigger, trigger_on = match["field"], date.fromisoformat(match["on"])
    extension_days = 0
    rolled = False
    for line in lines:
        found = _EXTENSION.match(line)
        if found:
            extension_days += int(found["days"])
        elif line.startswith("roll: rolled over"):
            rolled = True
    offending = []
    for detail in details:
        leading = _LEADING_DATE.match(detail)
        if leading:
            offending.append(date.fromisoformat(leading["on"]))
    return ReasonParts(
        trigger=trigger,
        trigger_on=trigger_on,
        extension_days=extension_days,
        rolled=rolled,
        offending_on=tuple(offending),
        headline=lines[0] if lines else "",
    )


def summary(explanation: Sequence[str], details: Sequence[str] = ()) -> str:
    """An English one-liner: what started the clock, what moved it, what happened."""
    lines = _reasons(explanation)
    if not lines:
        return ""
    if not _TRIGGER.match(lines[0]):
        dates = [d for d in details if _LEADING_DATE.match(d)]
        if not dates:
            return lines[0]
        shown = ", ".join(d[:10] for d in dates[:_MAX_DATES])
        more = f" (+{len(dates) - _MAX_DATES} more)" if len(dates) > _MAX_DATES else ""
        return f"{lines[0]}: {shown}{more}"
    kept = []
    for line in lines:
        if line.startswith("roll: ") and not line.startswith("roll: rolled over"):
            continue  # "is a working day, no roll" says nothing new
        if line.startswith(_QUIET):
            continue
        kept.append(line.split(": ", 1)[1] if line.startswith(("trigger: ", "event: ")) else line)
    return "; ".join(kept)
