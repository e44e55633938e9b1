"""References and links from a provider: a closed character set, no personal data.

Limits of provider-api.md ("Limits (normative, December 2026)"):

* a reference (``case_ref``, ``audit_id``, ``finding_id``, coach and office ids) is 1-64
  characters from ``A-Z a-z 0-9 - _ . /`` after Unicode NFKC: a full-width ``TK-1`` is
  the case ``TK-1``; Cyrillic look-alike letters, a right-to-left override or a
  zero-width space are refused, so two look-alike references can never be two cases;
* a reference or a ``case_url`` holding an e-mail address or a phone number is refused.

Errors name the rule, never the value: a refused value may be personal data, or hold
control characters that would garble a log line or a message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import unquote

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

#: The pydantic error types raised here; their input is never echoed.
WITHHELD_ERRORS = frozenset({"reference", "personal_data", "link"})
MAX_REFERENCE = 64
_REFERENCE = re.compile(r"[A-Za-z0-9._/-]{1,64}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_SEP = r"[-. /()]?"
_PHONE = re.compile(
    # Finnish numbers written internationally (+358, 00358, 358) and any "+" number
    rf"(?<![0-9])(?:(?:\+|00)?358{_SEP}0?{_SEP}[1-9](?:{_SEP}[0-9]){{4,10}}"
    rf"|\+[1-9](?:{_SEP}[0-9]){{6,14}}"
    # Finnish mobile numbers written domestically: 040..049, 050
    rf"|0(?:4[0-9]|50)(?:{_SEP}[0-9]){{6,8}})(?![0-9])"
)
_UNSAFE_IN_LINK = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Zs"})


def personal_data(text: str) -> str | None:
    """What kind of personal data ``text`` looks like it holds, or None."""
    if "@" in text and _EMAIL.search(text):
        return "an e-mail address"
    if _PHONE.search(text):
        return "a phone number"
    return None


def normal_reference(value: str) -> str | None:
    """``value`` after NFKC when it is a valid reference (charset and length), else None."""
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
    return value if _REFERENCE.fullmatch(value) else None


def check_reference(value: str) -> str:
    """A provider's reference, NFKC-normalised; a pydantic error (value withheld) if not
    1-64 characters from the reference set or if it looks like personal data."""
    normal = value if value.isascii() else unicodedata.normalize("NFKC", value)
    kind = personal_data(normal)
    if kind is not None:
        raise PydanticCustomError(
            "personal_data", f"looks like {kind}: personal data is refused (value withheld)"
        )
    if not _REFERENCE.fullmatch(normal):
        raise PydanticCustomError(
            "reference",
            "must be 1-64 characters from A-Z a-z 0-9 - _ . / after Unicode NFKC (look-alike "
            "letters, spaces, control and direction characters are refused; value withheld)",
        )
    return normal


def check_link(value: str) -> str:
    """A provider's case link: no control, format or space characters, no personal data
    (also when percent-encoded). Whether it is linked is decided when it is rendered."""
    if any(unicodedata.category(ch) in _UNSAFE_IN_LINK for ch in value):
        raise PydanticCustomError(
            "link", "holds control, direction or space characters (value withheld)"
        )
    kind = personal_data(unquote(value))
    if kind is not None:
        raise PydanticCustomError(
            "personal_data", f"looks like {kind}: personal data is refused (value withheld)"
        )
    return value


#: What the OpenAPI document publishes of a reference (the set as it is after NFKC).
_REFERENCE_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REFERENCE,
    "pattern": "^[A-Za-z0-9._/-]{1,64}$",
    "description": "1-64 characters from A-Z a-z 0-9 - _ . / after Unicode NFKC; no personal data",
}
Reference = Annotated[str, AfterValidator(check_reference), WithJsonSchema(_REFERENCE_SCHEMA)]
Link = Annotated[str, AfterValidator(check_link)]
