"""Reading provider JSON fast without losing anything, and writing it back canonically."""

from __future__ import annotations

import json

import pytest

from models.store import canonical_json, content_hash, may_be_unstorable
from providers.client import UnsafeNumber, parse_json

ITEM = {"case_ref": "TK-1", "office_id": "Työpiste Äänekoski", "hours": [6.5, 1e16, 1e-5]}


def test_plain_json_is_read_strictly_and_quirks_by_the_standard_library():
    """orjson reads what JSON says exactly; NaN, lone surrogates and long integers go to json."""
    assert parse_json(json.dumps(ITEM).encode()) == (ITEM, True)
    edge = {"minutes": 2**53, "low": -(2**53)}
    assert parse_json(json.dumps(edge).encode()) == (edge, False)
    parsed, strict = parse_json(b'{"ref": "\\ud800"}')
    assert (parsed, strict) == ({"ref": "\ud800"}, False)


def test_numbers_json_cannot_carry_exactly_are_marked_never_a_value_error():
    """Integers beyond ±2^53 (5000 digits too), NaN and Infinity become UnsafeNumber markers."""
    for body, text in (
        (b'{"minutes": NaN}', "NaN"),
        (b'{"minutes": -Infinity}', "-Infinity"),
        (b'{"minutes": 1e400}', "1e400"),
        (f'{{"minutes": {2**53 + 1}}}'.encode(), str(2**53 + 1)),
        (b'{"minutes": ' + b"9" * 5000 + b"}", "an integer of 5000 digits"),
    ):
        parsed, strict = parse_json(body)
        assert not strict
        assert isinstance(parsed["minutes"], UnsafeNumber), body[:40]
        assert parsed["minutes"] == text


def test_canonical_text_is_the_same_however_the_item_was_read():
    """Sorted keys, no spaces, UTF-8; the same item gives the same text and hash."""
    text = canonical_json(ITEM)
    assert text == canonical_json(ITEM, strict=True)
    assert text == canonical_json(dict(reversed(list(ITEM.items()))))
    assert text.startswith('{"case_ref":"TK-1","hours":[6.5,')
    assert "Äänekoski" in text
    assert json.loads(text) == ITEM
    assert content_hash(text) == content_hash(canonical_json(json.loads(text)))


@pytest.mark.parametrize(
    "item",
    [
        {"minutes": float("nan")},
        {"ref": "\ud800"},
        {"minutes": 123456789012345678901234567890},
        {1: "an integer key"},
    ],
    ids=["nan", "lone_surrogate", "huge_integer", "integer_key"],
)
def test_what_orjson_cannot_write_exactly_is_written_by_json(item):
    """No value is changed on the way to the store: NaN stays NaN, big integers stay exact."""
    text = canonical_json(item)
    assert text == json.dumps(item, sort_keys=True, separators=(",", ":"))
    assert text.isascii()


def test_only_text_that_may_hold_nul_or_a_lone_surrogate_takes_the_exact_check():
    """UTF-8 text is storable; an escaped NUL or surrogate, or an unencodable string, is not."""
    assert not may_be_unstorable(canonical_json(ITEM))
    assert may_be_unstorable(canonical_json({"ref": "TK\x00-1"}))
    assert may_be_unstorable(canonical_json({"ref": "\ud800"}))
    assert may_be_unstorable(repr({"ref": "\ud800"}))
    assert may_be_unstorable("{'ref': '\ud800'}")
