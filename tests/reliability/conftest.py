"""Shared helpers for the reliability tests: settings, fast retries, the figures file.

Every test that injects faults adds its figures (faults injected, runs, alerts expected /
delivered / duplicated, records lost) to the session's :class:`Figures`; at the end of
the session they are written to ``reliability-figures.json`` in pytest's base temporary
directory and printed in the terminal summary (RELIABILITY.md quotes them).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import providers.client
import providers.sync
from core.config import DatabaseSettings, ProviderSettings, Settings
from providers.client import ProviderClient

TOKEN_ENV = "VAHTI_RELIABILITY_TOKEN"
FIGURES_FILE = "reliability-figures.json"


@dataclass
class Figures:
    """Counters per test area, summed over the session."""

    areas: dict[str, dict[str, int]] = field(default_factory=dict)
    rows: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)  # area: name: row
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def row(self, area: str, name: str, **values: object) -> None:
        """One named row of measured values (a table in RELIABILITY.md), the last run's."""
        with self._lock:
            self.rows.setdefault(area, {})[name] = values

    def add(self, area: str, **counts: int) -> None:
        with self._lock:
            bucket = self.areas.setdefault(area, {})
            for name, value in counts.items():
                bucket[name] = bucket.get(name, 0) + value

    def totals(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for bucket in self.areas.values():
            for name, value in bucket.items():
                total[name] = total.get(name, 0) + value
        return total

    def to_json(self) -> dict[str, Any]:
        return {"areas": self.areas, "totals": self.totals(), "rows": self.rows}


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    """The session's reliability figures (written at the end of the session)."""
    return _FIGURES


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the figures next to pytest's temporary directories."""
    if not _FIGURES.areas:
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    target = Path(factory.getbasetemp()) / FIGURES_FILE
    target.write_text(json.dumps(_FIGURES.to_json(), indent=2, sort_keys=True) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures (RELIABILITY.md is updated from this output)."""
    if _FIGURES.areas:
        terminalreporter.write_sep("-", "reliability figures")
        terminalreporter.write_line(json.dumps(_FIGURES.to_json(), sort_keys=True))


@dataclass
class RetryLog:
    """Every backoff the provider clients asked for (they sleep at most 10 ms instead)."""

    delays: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        threading.Event().wait(min(seconds, 0.01))


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> RetryLog:
    """Provider clients made by the sync record their backoffs and barely sleep."""
    log = RetryLog()
    rng = random.Random(7)

    class RecordingClient(ProviderClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("sleep", log.sleep)
            kwargs.setdefault("rng", rng)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(providers.sync, "ProviderClient", RecordingClient)
    monkeypatch.setattr(providers.client, "BACKOFF_BASE", 0.01)
    return log


@pytest.fixture
def provider_token(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set the providers' token environment variable."""

    def set_token(value: str) -> None:
        monkeypatch.setenv(TOKEN_ENV, value)

    return set_token


def provider_settings(pid: str, base_url: str, **knobs: object) -> ProviderSettings:
    """One provider with small pages, few attempts and a short timeout (overridable)."""
    options: dict[str, object] = {
        "page_size": 25,
        "max_attempts": 4,
        "timeout_seconds": 2.0,
        "max_pages": 50,
    }
    options.update(knobs)
    return ProviderSettings.model_validate(
        {"id": pid, "base_url": base_url, "token_env": TOKEN_ENV, **options}
    )


def make_settings(url: str, providers_: list[ProviderSettings], **extra: object) -> Settings:
    """Settings with the given database and providers (plus any other sections)."""
    data: dict[str, object] = {
        "database": DatabaseSettings(url=url).model_dump(),
        "providers": [p.model_dump() for p in providers_],
    }
    data.update(extra)
    return Settings.model_validate(data)


@pytest.fixture
def set_provider_token(provider_token: Callable[[str], None]) -> Iterator[str]:
    """The reference servers' token, set in the environment."""
    from tests.fixtures.provider_server import TOKEN  # noqa: PLC0415

    provider_token(TOKEN)
    return TOKEN
