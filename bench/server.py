"""The reference provider in its own process, so client and server never share a GIL.

``vahti provider serve --providers K`` serves every provider under ``/{provider_id}/v1``
from one process (``demo`` alone when K is 1). The bench reads the chosen port from
its first lines of output and stops it with SIGINT (the CLI's Ctrl-C path).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

_SERVING = re.compile(r"(http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 300.0


def provider_ids(providers: int) -> list[str]:
    """The ids ``vahti provider serve`` gives its datasets."""
    return ["demo"] if providers == 1 else [f"p{k + 1:03d}" for k in range(providers)]


@dataclass
class ProviderProcess:
    """``vahti provider serve`` as a child process; use as a context manager."""

    cases: int
    providers: int
    today: date
    seed: int = 1
    invalid_share: float = 0.0
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    url: str = ""
    _process: subprocess.Popen[str] | None = None

    @property
    def ids(self) -> list[str]:
        return provider_ids(self.providers)

    def base_url(self, provider_id: str) -> str:
        return f"{self.url}/{provider_id}"

    def start(self) -> Self:
        vahti = Path(sys.executable).with_name("vahti")
        command = [
            str(vahti), "provider", "serve", "--port", "0", "--cases", str(self.cases),
            "--providers", str(self.providers), "--today", self.today.isoformat(),
            "--seed", str(self.seed), "--invalid-share", str(self.invalid_share),
        ]  # fmt: skip
        env = {**os.environ, "VAHTI_PROVIDER_TOKEN": self.token}
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        assert self._process.stdout is not None
        for line in self._process.stdout:
            found = _SERVING.search(line)
            if line.startswith("Serving") and found:
                self.url = found.group(1)
                return self
        self.stop()
        raise RuntimeError("the reference provider exited before serving")

    def touch(self, share: float, seed: int = 7) -> int:
        """Change ``share`` of every provider's cases (POST /_admin/touch); cases touched."""
        touched = 0
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(headers=headers, timeout=60, trust_env=False) as client:
            for k, pid in enumerate(self.ids):
                response = client.post(
                    f"{self.base_url(pid)}/_admin/touch", params={"share": share, "seed": seed + k}
                )
                response.raise_for_status()
                touched += int(response.json()["touched"])
        return touched

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
