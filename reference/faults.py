"""Fault knobs for the reference provider, as pure ASGI middleware (every endpoint gets them).

Knobs (``Faults.parse("error_rate=0.2,rate_limit_rate=0.1,latency_ms=50")``):

- ``latency_ms``: added before every response.
- ``error_rate``: share of requests answered 500 or 503 (problem+json).
- ``rate_limit_rate``: share answered 429 with ``Retry-After: retry_after_seconds``.
- ``slow_rate`` + ``slow_seconds``: share delayed by ``slow_seconds`` (past a client timeout).
- ``malformed_rate``: share answered 200 with a body that is not valid JSON.
- ``drop_rate``: share whose connection drops mid-response (headers + part of the body).
- ``empty_body_rate``: share answered 200 with an empty body.
- ``unavailable_first``: the first N requests answered 503 (a provider down for a while).
- ``unauthorized``: every request answered 401.
- ``endless_cursor``: collection pages always carry a ``next_cursor`` (a client must bound it).
- ``seed``: the draws are deterministic for a given request order.

The rates are exclusive slices of one draw per request, so their sum must be at most 1.
Paths starting with ``/_admin`` are never faulted.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import InputError

_RATES = (
    "error_rate",
    "rate_limit_rate",
    "slow_rate",
    "malformed_rate",
    "drop_rate",
    "empty_body_rate",
)


@dataclass(frozen=True, slots=True)
class Faults:
    """Which faults to inject and how often (see the module docstring)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: int = 1
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    malformed_rate: float = 0.0
    drop_rate: float = 0.0
    empty_body_rate: float = 0.0
    unavailable_first: int = 0
    unauthorized: bool = False
    endless_cursor: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"fault {name}={value!r} is not between 0 and 1")
        if sum(getattr(self, name) for name in _RATES) > 1.0 + 1e-9:
            raise InputError("fault rates add up to more than 1: " + ", ".join(_RATES))
        for name in ("latency_ms", "slow_seconds", "retry_after_seconds", "unavailable_first"):
            if getattr(self, name) < 0:
                raise InputError(f"fault {name}={getattr(self, name)!r} is negative")

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Parse ``"name=value,name=value"``; booleans take true/false/1/0; empty means none."""
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for raw in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, text = raw.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise InputError(
                    f"fault {raw!r}: expected name=value with name one of {sorted(known)}"
                )
            values[name] = _convert(name, known[name], text.strip())
        return cls(**values)

    @property
    def active(self) -> bool:
        """True when any knob differs from no faults at all."""
        return self != Faults(seed=self.seed)


def _convert(name: str, kind: object, text: str) -> Any:
    if kind in {"bool", bool}:
        if text.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise InputError(f"fault {name}={text!r} is not a valid bool")
        return text.lower() in {"true", "1", "yes"}
    try:
        if kind in {"int", int}:
            return int(text)
        return float(text)
    except ValueError:
        raise InputError(f"fault {name}={text!r} is not a valid {kind}") from None


def _problem(status: int, title: str, detail: str) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body).encode()


class FaultMiddleware:
    """Inject ``Faults`` into every HTTP request except ``/_admin``."""

    def __init__(self, app: ASGIApp, *, faults: Faults, endless_cursor: str) -> None:
        self.app = app
        self.faults = faults
        self.endless_cursor = endless_cursor
        self._rng = random.Random(faults.seed)  # noqa: S311 - synthetic data, not security
        self._unavailable = faults.unavailable_first  # requests still to answer 503

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith("/_admin")
            or "/_admin/" in scope["path"]
        ):
            await self.app(scope, receive, send)
            return
        faults = self.faults
        draw, which = self._rng.random(), self._rng.random()
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self._unavailable > 0:
            self._unavailable -= 1
            body = _problem(503, "Service Unavailable", "down for a while (fault)")
            await _send(send, 503, body)
            return
        if faults.unauthorized:
            headers = [(b"www-authenticate", b'Bearer realm="provider", error="invalid_token"')]
            await _send(send, 401, _problem(401, "Unauthorized", "token refused (fault)"), headers)
            return
        edge = 0.0
        for name in _RATES:
            edge += getattr(faults, name)
            if draw < edge:
                await self._inject(name, which, scope, receive, send)
                return
        await self._pass(scope, receive, send)

    async def _inject(
        self, name: str, which: float, scope: Scope, receive: Receive, send: Send
    ) -> None:
        faults = self.faults
        match name:
            case "error_rate":
                status = 500 if which < 0.5 else 503
                title = "Internal Server Error" if status == 500 else "Service Unavailable"
                await _send(send, status, _problem(status, title, "injected fault"))
            case "rate_limit_rate":
                seconds = str(faults.retry_after_seconds).encode()
                body = _problem(429, "Too Many Requests", "injected fault")
                await _send(send, 429, body, [(b"retry-after", seconds)])
            case "slow_rate":
                await asyncio.sleep(faults.slow_seconds)
                await self._pass(scope, receive, send)
            case "malformed_rate":
                await _send(
                    send, 200, b'{"items": [{"case_ref": "TK-', content_type=b"application/json"
                )
            case "drop_rate":
                body = b'{"items": [{"case_ref": "TK-2025-0001", "service": "work'
                headers = [(b"content-type", b"application/json"), (b"content-length", b"100000")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": True})
                # Returning without finishing makes the server close the connection mid-body.
            case _:
                await _send(send, 200, b"", content_type=b"application/json")

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.faults.endless_cursor or not scope["path"].endswith(("/cases", "/audits")):
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode())
        cursor = query.get("cursor", [self.endless_cursor])[0]
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            page = json.loads(body)
            if page.get("next_cursor") is None:
                page["next_cursor"] = cursor
            body = json.dumps(page).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 500), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


async def _send(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    *,
    content_type: bytes = b"application/problem+json",
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
