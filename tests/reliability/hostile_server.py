"""A configurable hostile provider: a small ASGI app served by uvicorn on loopback.

Each path answers with a :data:`Behaviour` (an ASGI coroutine); every path not configured
answers an empty page, so a test breaks exactly one collection. Endless behaviours
(trickling, streaming a huge body) stop when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache

from starlette.types import Receive, Scope, Send

from reference.server_run import RunningServer, run_in_thread

Behaviour = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
JSON = [(b"content-type", b"application/json")]


def _start(status: int, headers: Headers) -> dict[str, object]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def respond(status: int, body: bytes, headers: Headers | None = None) -> Behaviour:
    """A whole response at once."""

    async def behaviour(scope: Scope, receive: Receive, send: Send) -> None:
        del scope, receive
        extra = [*(headers or JSON), (b"content-length", str(len(body)).encode())]
        await send(_start(status, extra))
        await send({"type": "http.response.body", "body": body})

    return behaviour


def page(items: list[object], cursor: str | None = None, **extra: object) -> Behaviour:
    """A 200 page of ``items`` (plus any other top-level keys)."""
    body = json.dumps({"items": items, "next_cursor": cursor, **extra}).encode()
    return respond(200, body)


async def _until_gone(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


def stream(chunks: Callable[[], Iterator[bytes]], *, headers: Headers | None = None,
           pause: float = 0.0) -> Behaviour:  # fmt: skip
    """A 200 whose body is ``chunks()`` sent one by one (``pause`` seconds apart), until the
    chunks end or the client goes away."""

    async def behaviour(scope: Scope, receive: Receive, send: Send) -> None:
        del scope
        gone = asyncio.Event()
        watcher = asyncio.create_task(_until_gone(receive, gone))
        await send(_start(200, headers or JSON))
        try:
            for chunk in chunks():
                if gone.is_set():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if pause:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(gone.wait(), pause)
                else:
                    await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()

    return behaviour


def trickle(pause: float = 1.0) -> Behaviour:
    """A page that never ends: its opening, then one space (valid JSON) every ``pause`` s."""

    def chunks() -> Iterator[bytes]:
        yield b'{"items": ['
        while True:
            yield b" "

    return stream(chunks, pause=pause)


def huge_body(total: int, *, opening: bytes = b'{"items": [{"case_ref": "BIG", "notes": "'
              ) -> Behaviour:  # fmt: skip
    """A 200 of ``total`` bytes (one long string), streamed in 64 KiB chunks, never built."""
    step = 64 * 1024

    def chunks() -> Iterator[bytes]:
        yield opening
        block = b"x" * step
        for _ in range(total // step):
            yield block
        yield b'"}]}'

    return stream(chunks)


@cache
def gzip_bomb(inflated: int = 2 * 1024**3) -> bytes:
    """A gzip body of about 2 MB that inflates to ``inflated`` bytes of JSON whitespace.

    Built from one compressed 16 MiB block repeated: after a full flush the compressor
    starts afresh, so each block's bytes are the same. (The trailer's checksum is not
    computed: a client that honours its body cap never gets there.)
    """
    block = 16 * 1024 * 1024
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(b'{"items": [') + compressor.flush(zlib.Z_FULL_FLUSH)
    unit = compressor.compress(b" " * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(b"]}") + compressor.flush()
    return head + unit * (inflated // block) + tail


@dataclass
class HostileApp:
    """Answers each configured path with its behaviour, others with an empty page."""

    routes: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        self.requests.append(path)
        behaviour = self.routes.get(path) or self.routes.get("*") or page([])
        await behaviour(scope, receive, send)


@contextmanager
def hostile_server(routes: dict[str, Behaviour]) -> Iterator[tuple[RunningServer, HostileApp]]:
    """The hostile app on a loopback port for the duration of the block."""
    app = HostileApp(routes)
    with run_in_thread(app) as server:
        yield server, app
