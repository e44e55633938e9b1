"""Run an ASGI app with uvicorn in a daemon thread (tests, the demo, benchmarks).

    with run_in_thread(create_app(dataset, token="t")) as server:
        httpx.get(f"{server.url}/v1/health", headers={"Authorization": "Bearer t"})

The socket is bound before the thread starts, so ``port=0`` gives a free port that is
known at once; the context manager waits until uvicorn accepts connections and stops it
cleanly on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from core.errors import InputError

_START_TIMEOUT = 10.0


class RunningServer:
    """A uvicorn server on a daemon thread; use as a context manager or call ``stop()``."""

    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self.host = host
        # proto given explicitly: asyncio sets TCP_NODELAY on accepted connections only
        # when the socket says IPPROTO_TCP; without it, headers and body go out as two
        # segments and the second waits for the client's delayed ACK.
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError as error:
            self._socket.close()
            raise InputError(f"cannot listen on {host}:{port}: {error.strerror}") from error
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name=f"uvicorn:{self.port}",
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Start serving; returns once connections are accepted."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise InputError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=_START_TIMEOUT)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """A not-yet-started server; ``with run_in_thread(app) as server:`` starts and stops it."""
    return RunningServer(app, host=host, port=port)
