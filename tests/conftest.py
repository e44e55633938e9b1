"""Shared test set-up: real servers are started once per session in tests/fixtures/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.db import dispose_shared_engines

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.provider_server",
    "tests.fixtures.smtp",
]


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    """Each test's databases get their own pooled engines (steps share one per process)."""
    yield
    dispose_shared_engines()
