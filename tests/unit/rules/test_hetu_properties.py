"""Property test (decision 11): a valid identity code hidden anywhere is rejected, never echoed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.rejected import Rejected
from contract.validate import validate_audits, validate_cases, validate_staff
from tests.unit.rules.builders import UPDATED, day, meeting, raw_case

CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
SIGNS = {1800: "+", 1900: "-UVWXY", 2000: "ABCDEF"}
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


@st.composite
def codes(draw: st.DrawFn) -> str:
    """A valid identity code: real birth date, a sign of its century, correct check char."""
    born = draw(st.dates(min_value=date(1850, 1, 1), max_value=date(2024, 12, 31)))
    sign = draw(st.sampled_from(SIGNS[born.year // 100 * 100]))
    individual = f"{draw(st.integers(2, 899)):03d}"
    birth = born.strftime("%d%m%y")
    return f"{birth}{sign}{individual}{CHECK[int(birth + individual) % 31]}"


def _percent(code: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in code)


def _fullwidth(code: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in code)


@st.composite
def hidden(draw: st.DrawFn, code: str) -> str:
    """The code hidden in one of the ways decision 11 lists."""
    way = draw(
        st.sampled_from(
            ["plain", "lower", "glued", "percent", "space", "dash", "invisible", "nfkc", "url"]
        )
    )
    letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäö", min_size=1, max_size=5)
    at = draw(st.integers(1, 10))
    dash = draw(st.sampled_from(DASHES)) if code[6] == "-" else code[6]
    hiding = {
        "plain": code,
        "lower": code.lower(),
        "glued": f"{draw(letters)}{code}{draw(letters)}",
        "percent": _percent(code),
        "space": f"asiakas%20{code}",
        "dash": code[:6] + dash + code[7:],
        "invisible": code[:at] + draw(st.sampled_from(INVISIBLE)) + code[at:],
        "nfkc": _fullwidth(code),
        "url": f"https://crm.example.fi/asiakas/{code}?tab=1",
    }
    return hiding[way]


def _case() -> dict[str, Any]:
    return raw_case(
        first_contact_on="2025-03-04",
        first_meeting_on="2025-03-10",
        pauses=[{"kind": "illness", "start_on": "2025-03-12", "end_on": "2025-03-14"}],
        meetings=[meeting("2025-03-10")],
        days=[day("2025-03-11")],
    )


def _audit() -> dict[str, Any]:
    finding = {"finding_id": "F1", "severity": "minor", "area": "staff", "summary": "ok"}
    return {
        "audit_id": "AUD-1",
        "office_id": "HEL-1",
        "visit_on": "2025-05-06",
        "findings": [finding],
        "updated_at": UPDATED,
    }


def _coach() -> dict[str, Any]:
    return {
        "id": "c-1",
        "office_id": "HEL-1",
        "language": "fi",
        "first_aid_valid_until": "2026-01-01",
        "substitute_id": "c-2",
        "absent": [{"start_on": "2025-05-05", "end_on": "2025-05-09"}],
    }


KINDS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[Any], Any]]] = {
    "case": (_case, validate_cases),
    "audit": (_audit, validate_audits),
    "coach": (_coach, validate_staff),
}


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[str, tuple[Any, ...]]]:
    """Every string value and every object (for a key) of the item, by path."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    if isinstance(node, dict):
        found.append(("key", path))
        for key, value in node.items():
            found += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*path, index))
    elif isinstance(node, str):
        found.append(("value", path))
    return found


def _hide(item: dict[str, Any], place: tuple[str, tuple[Any, ...]], text: str) -> dict[str, Any]:
    item = copy.deepcopy(item)
    how, path = place
    parent: Any = item
    for step in path[:-1] if how == "value" else path:
        parent = parent[step]
    if how == "key":
        parent[text] = "x"
    else:
        parent[path[-1]] = text
    return item


def _fragments(text: str) -> set[str]:
    """Every 6-character piece of ``text`` holding at least four digits (of the code)."""
    pieces = (text[start : start + 6] for start in range(len(text) - 5))
    return {piece.lower() for piece in pieces if sum(c.isdigit() for c in piece) >= 4}


def _shown(rejected: Rejected) -> str:
    return "\n".join([rejected.ref or "", *rejected.errors]).lower()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), codes(), st.sampled_from(sorted(KINDS)))
def test_a_hidden_identity_code_is_rejected_and_never_echoed(
    data: st.DataObject, code: str, kind: str
) -> None:
    """Any string field, key or URL of a case, audit or coach holding a hidden code."""
    build, validate = KINDS[kind]
    base = build()
    place = data.draw(st.sampled_from(_places(base)))
    text = data.draw(hidden(code))
    valid, rejected = validate([_hide(base, place, text)])
    assert valid == []
    (item,) = rejected
    assert any("identity code (withheld)" in error for error in item.errors), item.errors
    shown = _shown(item)
    for fragment in _fragments(code) | _fragments(text):
        assert fragment not in shown, (fragment, item.errors)


def test_the_base_items_are_valid() -> None:
    """Without a hidden code the generated case, audit and coach pass validation."""
    for build, validate in KINDS.values():
        valid, rejected = validate([build()])
        assert (len(valid), rejected) == (1, [])
