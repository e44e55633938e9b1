"""Sending one digest to one target with Apprise, and telling exactly how it went.

Apprise's ``notify()`` can fail without raising: anything but ``True`` is a failure.
Apprise's own log lines are captured (``apprise.LogCapture``) and stored, masked.
``${ENV}`` references in the URL are expanded here, at send time, and nowhere else.
The Apprise object lives only inside :func:`deliver` (never passed to a Prefect task).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from core.errors import ConfigError
from notifications.apprise_loader import load_plugins
from notifications.masking import mask_text, mask_url
from notifications.messages import Message
from notifications.routing import Target, expand_env

if TYPE_CHECKING:
    import apprise

log = logging.getLogger("vahti.notifications")
EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    services: list[dict[str, object]] = field(default_factory=list)
    error: str | None = None
    log: str = ""


def body_for(url: str, message: Message) -> tuple[str, apprise.NotifyFormat]:
    """HTML for email (Apprise adds the plain-text alternative), Markdown for chat."""
    from apprise import NotifyFormat  # noqa: PLC0415 - on first use (apprise_loader)

    if urlsplit(url).scheme.lower() in EMAIL_SCHEMES:
        return message.html, NotifyFormat.HTML
    return message.markdown, NotifyFormat.MARKDOWN


def deliver(
    target: Target,
    message: Message,
    *,
    environ: Mapping[str, str] | None = None,
    notify_type: str = "info",
) -> DeliveryResult:
    """Send ``message`` to ``target``; never raises for a delivery problem. ``notify_type``:
    Apprise's ``info``, ``success``, ``warning`` or ``failure`` (webhooks carry it)."""
    masked = mask_url(target.url)
    try:
        url = expand_env(target.url, environ, where=f"recipients {target.recipient_key}")
    except ConfigError as exc:
        return DeliveryResult(ok=False, error=str(exc))
    body, body_format = body_for(url, message)
    load_plugins()
    import apprise  # noqa: PLC0415 - on first use (apprise_loader)

    sender = apprise.Apprise()
    if not sender.add(url) or len(sender) == 0:
        return DeliveryResult(
            ok=False, error=f"{target.recipient_key} {masked}: Apprise cannot load this URL"
        )
    with apprise.LogCapture(level=logging.INFO) as captured:  # type: ignore[no-untyped-call]
        outcome = sender.notify(
            title=message.title, body=body, body_format=body_format, notify_type=notify_type
        )
    lines = mask_text(str(captured.getvalue()), [url, target.url])
    services: list[dict[str, object]] = [
        {"service": str(r.name), "ok": bool(r), "status": r.status.name} for r in outcome.results
    ]
    # Full success only: every dispatched service succeeded (optional ones included).
    ok = bool(outcome) and len(services) > 0 and all(s["ok"] for s in services)
    if ok:
        return DeliveryResult(ok=True, services=services, log=lines)
    log.warning("delivery to %s %s failed", target.recipient_key, masked)
    error = f"{target.recipient_key} {masked}: not accepted ({_last(lines)})"
    return DeliveryResult(ok=False, services=services, error=error, log=lines)


def _last(lines: str) -> str:
    tail = [line for line in lines.splitlines() if line.strip()]
    return tail[-1][-300:] if tail else "no log"
