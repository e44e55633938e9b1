"""Provider text made inert before it reaches a message, an artifact or a run's state.

Every string a provider supplied (references, office and coach ids, reasons that quote
it, its error text) passes :func:`plain` first, whatever the format:

* control, format (bidi overrides, zero-width), private-use characters and line or
  paragraph separators are dropped; any run of white space becomes one space, so a
  provider can never start a new line, heading or list item;
* chat mentions are broken: ``@`` becomes the full-width at sign (U+FF20) and ``<``/``>``
  single angle quotation marks (U+2039/U+203A), so ``@channel``, ``@here``,
  ``@everyone``, ``@all``, Slack's ``<!channel>`` and ``<@U123>``, Discord's ``<@123>``
  and ``<@&role>``, Teams' ``<at>`` and Google Chat's ``<users/all>`` are text in every
  service;
* web addresses are defanged (``https[:]//evil[.]example``): no chat or mail client
  turns them into links;
* the text is cut to a length limit.

:func:`markdown` adds Markdown escapes on top (HTML is escaped by the templates).
:func:`case_link` is the only way a provider's ``case_url`` becomes clickable: on one of
the provider's ``case_link_origins``, with every character that could end a Markdown
or Slack link destination percent-encoded. Anything else is shown defanged, as text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from urllib.parse import quote, urlsplit, urlunsplit

_DROPPED = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
_MENTION = str.maketrans({"@": "\uff20", "<": "\u2039", ">": "\u203a"})
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):/+")
_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z][A-Za-z0-9-]{1,62}(?![A-Za-z0-9-]))")
_MARKDOWN = re.compile(r"([\\`*_~{}\[\]<>#|])")
#: Characters kept as they are in a linked URL's path, query and fragment.
_URL_SAFE = "/=&%-._+,;!$"
DEFAULT_LIMIT = 200


def _visible(text: str) -> str:
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED
    )


def defang(text: str) -> str:
    """``text`` with every ``scheme://`` and domain-like dot broken (never auto-linked)."""
    text = _SCHEME.sub(lambda m: f"{m.group(1)}[:]//", text)
    return _DOMAIN_DOT.sub("[.]", text)


def plain(text: object, limit: int = DEFAULT_LIMIT, *, links: bool = False) -> str:
    """Provider text as inert, one-line, bounded text (see the module docstring);
    ``links``: keep web addresses as they are (for plain-text operator views, never for a
    message or Markdown)."""
    line = " ".join(_visible(str(text)).split()).translate(_MENTION)
    if not links:
        line = defang(line)
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


def escape_markdown(text: str) -> str:
    """Backslash escapes for Markdown's inline syntax (text already one line)."""
    return _MARKDOWN.sub(r"\\\1", text)


def markdown(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """:func:`plain`, then Markdown-escaped: for chat messages and Prefect artifacts."""
    return escape_markdown(plain(text, limit))


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url`` (default port left out), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port and port != default else "")


def case_link(url: str | None, origins: Collection[str]) -> tuple[str | None, str | None]:
    """(clickable URL, inert text): the URL when it is on one of ``origins``, else the
    text to show instead (None, None without a link)."""
    if not url:
        return None, None
    origin = origin_of(url)
    if origin is not None and origin in origins and _visible(url) == url:
        parts = urlsplit(url)
        safe = urlunsplit(
            (
                parts.scheme,
                origin.split("://", 1)[1],
                quote(parts.path, safe=_URL_SAFE),
                quote(parts.query, safe=_URL_SAFE + "?"),
                quote(parts.fragment, safe=_URL_SAFE + "?"),
            )
        )
        return safe, None
    return None, plain(url, 120)
