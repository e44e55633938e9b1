"""Finnish personal identity code (henkilötunnus) detector.

Format DDMMYYCZZZQ: birth date, century sign (``+`` 1800s; ``-`` and, since 2023,
``Y X W V U`` 1900s; ``A`` and, since 2023, ``B C D E F`` 2000s), individual number
ZZZ and a check character Q = "0123456789ABCDEFHJKLMNPRSTUVWXY"[DDMMYYZZZ mod 31].
Only codes with a real birth date and a correct check character count, which keeps
false positives (dates, phone numbers, references) rare.

Text is read as a person would read it (rules.md decision 11): century sign and check
character in either case, after Unicode NFKC, with zero-width and direction characters
removed, Unicode dashes and minus signs read as ``-`` and percent-escapes decoded. A
code glued to letters is still a code; only adjacent digits make it part of a longer
number. Matches are never echoed: :func:`withhold` replaces them in any text that might
be shown, and :func:`identity_code_paths` names a key holding one without quoting it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from urllib.parse import unquote

import orjson  # in the lock through prefect; the quick pre-check serialises with it

_PATTERN = re.compile(
    r"(?<!\d)(\d{2})(\d{2})(\d{2})([-+A-FU-Ya-fu-y])(\d{3})(?:(\d)(?!\d)|([A-Ya-y]))"
)
_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_CENTURY = {"+": 1800, "A": 2000, **dict.fromkeys("BCDEF", 2000), **dict.fromkeys("-UVWXY", 1900)}
WITHHELD = "<identity code withheld>"
#: How a key holding a code appears in a field path (the key itself is never shown).
KEY_WITHHELD = "<key withheld>"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e"
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u3164\ufeff\uffa0"
)
_READ = {**{ord(c): "-" for c in _DASHES}, **dict.fromkeys(map(ord, _INVISIBLE))}
# Anything that could be a code, anywhere in an item's JSON text: six digits, a century
# sign, three digits. Mapped byte by byte (digits to "1", signs to "2", the rest to "0")
# the text holds "1111112111" wherever such a run is: one C-speed translate and find
# rule out almost every item; only a hit runs the regex. Plain ASCII without "%" reads
# as written; anything else is first read as a person would (:func:`as_read`).
_CLASSES = bytes(
    49 if 48 <= b <= 57 else 50 if chr(b) in "-+ABCDEFUVWXYabcdefuvwxy" else 48 for b in range(256)
)
_RUN = b"1111112111"
_ROUGH = re.compile(rb"[0-9]{6}[-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Ya-y]")


def _valid(match: re.Match[str]) -> bool:
    day, month, year, sign, individual, digit, letter = match.groups()
    try:
        born = date(_CENTURY[sign.upper()] + int(year), int(month), int(day))
    except ValueError:
        return False
    check = (digit or letter).upper()
    return born.year > 0 and _CHECK[int(day + month + year + individual) % 31] == check


def _plain(text: str) -> bool:
    """ASCII without percent-escapes reads exactly as written."""
    return text.isascii() and "%" not in text


def _normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_READ)


def as_read(text: str) -> str:
    """``text`` as a person reads it: NFKC, invisible characters removed, dashes as ``-``,
    percent-escapes decoded (nested ones too)."""
    if _plain(text):
        return text
    text = _normalized(text)
    for _ in range(3):  # an escape may hide another (``%252D``)
        if "%" not in text:
            break
        decoded = unquote(text, errors="replace")
        if decoded == text:
            break
        text = _normalized(decoded)
    return text


def _search(text: str) -> bool:
    return any(_valid(m) for m in _PATTERN.finditer(text))


def contains_identity_code(text: str) -> bool:
    """True when ``text``, read as a person would, holds a valid identity code."""
    return _search(as_read(text))


def withhold(text: str, placeholder: str = WITHHELD) -> str:
    """``text`` with every valid identity code replaced by ``placeholder`` (text that hides
    a code is shown as read, normalised, so no fragment of the code survives)."""
    read = as_read(text)
    return _PATTERN.sub(lambda m: placeholder if _valid(m) else m.group(0), read)


def _has_code(text: str) -> bool:
    if _plain(text):
        return len(text) >= 11 and _search(text)
    return _search(as_read(text))


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
    if text.isascii() and b"%" not in text:
        return text.translate(_CLASSES).find(_RUN) >= 0 and _ROUGH.search(text) is not None
    return _search(as_read(text.decode()))


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

    A key holding a code appears in every path as :data:`KEY_WITHHELD`, never itself. A
    regex over the item's JSON text rules out almost every item first; only items with
    a possible code are walked. Containers are visited once (cycles in non-JSON input
    are safe).
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
                    name = KEY_WITHHELD
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
