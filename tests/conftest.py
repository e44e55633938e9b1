"""Shared test set-up: real servers are started once per session in tests/fixtures/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.process import tune_collector
from models.db import dispose_shared_engines

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.provider_server",
    "tests.fixtures.smtp",
]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The collector tuned as every Vahti process tunes it where its work starts."""
    del session
    tune_collector()


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    """Each test's databases get their own pooled engines (steps share one per process)."""
    yield
    dispose_shared_engines()
