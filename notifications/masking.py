"""Masking secrets in Apprise URLs and in any text that may quote them.

:func:`mask_url` is the one way a recipient URL appears in a log line, an error, the
ledger or a report: the scheme, host and port stay readable; user names, passwords,
path segments (tokens, webhook ids), query values and fragments are masked. ``${ENV}``
references are shown as they are (they are names, not secrets).

:func:`secrets_of` lists the secret pieces of an expanded URL so :func:`mask_text` can
scrub them from free text such as Apprise's own log lines.

:func:`guard_apprise_logs` does the same for Apprise's own logger: Apprise logs the full
URL it loads (``Loaded JSON URL: json://host/TOKEN``) at DEBUG level, so every expanded
URL is registered and its secret pieces are masked in every Apprise log record (and in
urllib3's request lines, which quote the URL path).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from core.redact import PLAIN_QUERY_KEYS, url_secrets

MASK = "****"
_ENV_REF = re.compile(r"\$\{[A-Z_][A-Z0-9_]*\}")
#: Query keys whose values are plain settings, not secrets (kept readable).
_PLAIN_QUERY_KEYS = PLAIN_QUERY_KEYS


def _mask_piece(piece: str) -> str:
    if not piece:
        return piece
    return piece if _ENV_REF.fullmatch(piece) else MASK


def _looks_like_host(host: str) -> bool:
    """A DNS name or an address; otherwise the "host" is a token (``slack://T1/...``)."""
    return host == "localhost" or "." in host or ":" in host or _ENV_REF.fullmatch(host) is not None


def mask_url(url: str) -> str:
    """``scheme://****:****@host:port/****/****?key=****`` (host and port kept)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{url.split(':', 1)[0]}://{MASK}" if "://" in url else MASK
    if not parts.scheme:
        return MASK
    host = parts.hostname or ""
    if not _looks_like_host(host):
        host = _mask_piece(host)
    netloc = host + (f":{port}" if port else "")
    if parts.username is not None or parts.password is not None:
        userinfo = _mask_piece(unquote(parts.username or ""))
        if parts.password is not None:
            userinfo += ":" + _mask_piece(unquote(parts.password))
        netloc = f"{userinfo}@{netloc}"
    path = "/".join(_mask_piece(seg) for seg in parts.path.split("/"))
    query = "&".join(
        f"{key}={value if key.lower() in _PLAIN_QUERY_KEYS else _mask_piece(value)}"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    masked = f"{parts.scheme}://{netloc}{path}"
    if query:
        masked += f"?{query}"
    if parts.fragment:
        masked += f"#{MASK}"
    return masked


def secrets_of(url: str) -> set[str]:
    """The secret pieces of ``url`` (user, password, path segments, query values)."""
    return url_secrets(url)


def mask_text(text: str, urls: Iterable[str]) -> str:
    """``text`` with every secret piece of ``urls`` replaced by ``****``."""
    secrets: set[str] = set()
    for url in urls:
        text = text.replace(url, mask_url(url))
        secrets |= secrets_of(url) - {url}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _AppriseLogFilter(logging.Filter):
    """Masks the registered URLs' secret pieces in Apprise's log records."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            urls = list(self.urls)
        if urls:
            message = record.getMessage()
            masked = mask_text(message, urls)
            if masked != message:
                record.msg, record.args = masked, None
        return True


_APPRISE_FILTER = _AppriseLogFilter()
#: Loggers that write a URL Apprise sends to: Apprise's own, and urllib3's request lines
#: (``"POST /hook/TOKEN HTTP/1.1" 200``, DEBUG) under Apprise's HTTP services.
_GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool")


def guard_apprise_logs(url: str) -> None:
    """From now on, mask ``url``'s secret pieces in whatever Apprise itself logs."""
    with _APPRISE_FILTER.lock:
        _APPRISE_FILTER.urls.add(url)
    for name in _GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if _APPRISE_FILTER not in logger.filters:
            logger.addFilter(_APPRISE_FILTER)
