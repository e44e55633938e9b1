"""Shared test set-up: real servers are started once per session in tests/fixtures/."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.provider_server",
    "tests.fixtures.smtp",
]
