"""Finnish personal identity code (henkilötunnus) detector.

Format DDMMYYCZZZQ: birth date, century sign (``+`` 1800s; ``-`` and, since 2023,
``Y X W V U`` 1900s; ``A`` and, since 2023, ``B C D E F`` 2000s), individual number
ZZZ and a check character Q = "0123456789ABCDEFHJKLMNPRSTUVWXY"[DDMMYYZZZ mod 31].
Only codes with a real birth date and a correct check character count, which keeps
false positives (dates, phone numbers, references) rare. Matches are never echoed:
:func:`withhold` replaces them in any text that might be shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

import orjson  # in the lock through prefect; the quick pre-check serialises with it

_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(\d{2})(\d{2})(\d{2})([-+ABCDEFUVWXY])(\d{3})([0-9A-Y])(?![0-9A-Za-z])"
)
_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "A": 2000, **dict.fromkeys("BCDEF", 2000), **dict.fromkeys("-UVWXY", 1900)}
WITHHELD = "<identity code withheld>"
# Anything that could be a code, anywhere in an item's JSON text: six digits, a century
# sign, three digits. Mapped byte by byte (digits to "1", signs to "2", the rest to "0")
# the text holds "1111112111" wherever such a run is: one C-speed translate and find
# rule out almost every item; only a hit runs the regex. No word boundaries here (an
# escape like ``\n`` reads as a letter in JSON text), so this finds a superset.
_CLASSES = bytes(
    49 if 48 <= b <= 57 else 50 if chr(b) in "-+ABCDEFUVWXY" else 48 for b in range(256)
)
_RUN = b"1111112111"
_ROUGH = re.compile(rb"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]")


def _valid(match: re.Match[str]) -> bool:
    day, month, year, sign, individual, check = match.groups()
    try:
        date(_CENTURY[sign] + int(year), int(month), int(day))
    except ValueError:
        return False
    return _CHECK[int(day + month + year + individual) % 31] == check


def contains_identity_code(text: str) -> bool:
    """True when ``text`` holds a well-formed identity code with a correct check char."""
    return any(_valid(m) for m in _PATTERN.finditer(text))


def withhold(text: str) -> str:
    """``text`` with every valid identity code replaced by a placeholder."""
    return _PATTERN.sub(lambda m: WITHHELD if _valid(m) else m.group(0), text)


def _has_code(text: str) -> bool:
    return len(text) >= 11 and contains_identity_code(text)


def _maybe_code(item: object) -> bool:
    """Quick pre-check over the item's JSON text: False means no string holds a code.

    One regex search over the serialized item instead of a Python-level walk over
    every string (a case with its day list holds hundreds). Items that are not JSON
    (cycles, odd keys or values) take the exact walk.
    """
    try:
        text = orjson.dumps(item)
    except (TypeError, ValueError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        return _any_code(item)
    return text.translate(_CLASSES).find(_RUN) >= 0 and _ROUGH.search(text) is not None


def _any_code(item: object) -> bool:  # noqa: C901 - one flat pass over JSON shapes
    """Exact pre-check: does any string (key or value) hold an identity code?"""
    if isinstance(item, str):
        return _has_code(item)
    if not isinstance(item, Mapping | list | tuple):
        return False
    stack = [item]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        values: Iterable[object]
        if isinstance(node, Mapping):
            if any(_has_code(str(key)) for key in node):
                return True
            values = node.values()
        else:
            values = node
        for value in values:
            if isinstance(value, str):
                if _has_code(value):
                    return True
            elif isinstance(value, Mapping | list | tuple):
                stack.append(value)
    return False


def identity_code_paths(item: object) -> list[str]:  # noqa: C901 - one flat pass over JSON shapes
    """Paths of every string (key or value) holding an identity code.

    A regex over the item's JSON text rules out almost every item first; only items
    with a possible code are walked, strings shorter than a code skipped without a
    regex. Containers are visited once (cycles in non-JSON input are safe).
    """
    if not _maybe_code(item) or not _any_code(item):
        return []
    found: list[str] = []
    stack: list[tuple[str, object]] = [("item", item)]
    seen: set[int] = set()
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if _has_code(node):
                found.append(path)
            continue
        if id(node) in seen:
            continue
        if isinstance(node, Mapping):
            seen.add(id(node))
            prefix = "" if path == "item" else f"{path}."
            for key, value in node.items():
                name = str(key)
                if _has_code(name):
                    found.append(f"{prefix}{name} (key)")
                if isinstance(value, str):
                    if _has_code(value):
                        found.append(f"{prefix}{name}")
                elif isinstance(value, Mapping | list | tuple):
                    stack.append((f"{prefix}{name}", value))
        else:  # a list or tuple: only containers and strings are ever stacked
            assert isinstance(node, list | tuple)
            seen.add(id(node))
            stack.extend(
                (f"{path}[{i}]", value)
                for i, value in enumerate(node)
                if isinstance(value, str | Mapping | list | tuple)
            )
    return sorted(found)
