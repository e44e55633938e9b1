"""Redacting the secrets Vahti knows from text a provider sent.

A provider may echo its bearer token (in a problem detail, inside a case field), or any
other secret it learnt. :class:`Redactor` replaces every known secret by
:data:`REDACTED` in a provider's bytes before they are parsed, so nothing downstream
(stored JSON, revisions, rejected payloads, errors, logs, state messages) ever holds
one. The known secrets are every provider token readable from the environment and the
secret pieces of every recipient URL (:func:`known_secrets`).

Cost on a clean page: one ``in`` scan of the body per secret and one search for the
escapes that could spell a secret without its literal bytes (``\\u0041`` for ``A``,
``\\/`` for ``/``); only a hit does more.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from core.config import Settings

REDACTED = "[redacted]"
#: Shorter pieces would redact ordinary words (a URL's "api", a port).
MIN_SECRET = 4
#: A piece of a URL written whole in the settings this long is taken for a token.
TOKEN_LIKE = 16
#: Query keys whose values are plain settings, not secrets.
PLAIN_QUERY_KEYS = frozenset({"format", "overflow", "mode", "lang", "rto", "cto", "verify"})
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
#: JSON escapes that can spell printable ASCII (a secret) without its literal bytes.
_ASCII_ESCAPE = re.compile(rb"\\(?:u00[2-7][0-9A-Fa-f]|/)")


def _looks_like_host(host: str) -> bool:
    """A DNS name or an address; otherwise the "host" is a token (``slack://T1/...``)."""
    return host == "localhost" or "." in host or ":" in host or _ENV_REF.fullmatch(host) is not None


def url_secrets(url: str) -> set[str]:
    """The secret pieces of ``url`` (itself, user, password, path segments, query values)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    found = {url}
    host = parts.hostname or ""
    if not _looks_like_host(host):
        found.add(host)
    for raw in (parts.username, parts.password, parts.fragment):
        if raw:
            found.update({raw, unquote(raw)})
    for seg in parts.path.split("/"):
        if seg:
            found.update({seg, unquote(seg)})
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if value and key.lower() not in PLAIN_QUERY_KEYS:
            found.add(value)
    return {s for s in found if len(s) >= MIN_SECRET}


def known_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> set[str]:
    """Every provider token in the environment and every recipient URL's credentials.

    From a recipient URL: the values of its ``${ENV}`` references, its password, and,
    in a URL written whole in the settings, the token-like pieces (path segments and
    query values of :data:`TOKEN_LIKE` characters or more; a user name or a short path
    word is no secret and redacting it would mangle ordinary text). Tokens from Prefect
    Secret blocks are not loaded here: the sync adds its own provider's token.
    """
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for provider in settings.providers:
        if provider.token_env and env.get(provider.token_env):
            found.add(env[provider.token_env])
    recipients = settings.recipients
    coaches = [r for per_provider in recipients.coaches.values() for r in per_provider.values()]
    groups = (*coaches, *recipients.quality, *recipients.operations)
    for url in (url for recipient in groups for url in recipient.urls):
        names = _ENV_REF.findall(url)
        found.update(env[name] for name in names if env.get(name))
        expanded = _ENV_REF.sub(lambda m: env.get(m.group(1), ""), url)
        try:
            password = urlsplit(expanded).password
        except ValueError:
            continue
        if password:
            found.update({password, unquote(password)})
        if not names:
            found.update(piece for piece in url_secrets(expanded) if len(piece) >= TOKEN_LIKE)
    return {s for s in found if len(s) >= MIN_SECRET}


class Redactor:
    """Replaces known secrets by ``[redacted]`` in bytes, text and parsed JSON values."""

    __slots__ = ("_bytes", "_text")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._text: tuple[str, ...] = tuple(kept)
        self._bytes: tuple[tuple[bytes, bytes], ...] = tuple(
            (s.encode(), REDACTED.encode()) for s in kept
        )

    def __bool__(self) -> bool:
        return bool(self._text)

    def with_secret(self, secret: str) -> Redactor:
        """A redactor that knows ``secret`` too."""
        return Redactor((*self._text, secret))

    def body(self, content: bytes) -> tuple[bytes, bool]:
        """``content`` with every literal secret replaced, and whether the parsed value must
        still go through :meth:`value` (an escape that could spell a secret is present)."""
        for secret, mask in self._bytes:
            if secret in content:
                content = content.replace(secret, mask)
        if self._bytes and b"\\" in content and _ASCII_ESCAPE.search(content):
            return content, True
        return content, False

    def text(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self._text:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """A parsed JSON value with every secret replaced in its strings and keys."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(k): self.value(v) for k, v in value.items()}
        return value
