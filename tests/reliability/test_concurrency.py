"""Two Vahti runs at once on one database (SQLite and PostgreSQL): no duplicate, no loss.

Each round starts two worker processes together, each running sync, evaluate and
notify (the last round: the ``compliance-check`` flow) against the same database,
reference server and SMTP sink; the first round
starts on an empty database, so both also race to create the schema. After every
round: no alert delivered twice, every item of the provider stored, no alert left
open, and (PostgreSQL) no lock or open transaction left behind.

Mechanism under test: unique keys with ``ON CONFLICT`` for every write a second run
could repeat (cases, revisions, rejected payloads, ledger rows), rowcount-checked
claims of ledger rows, PostgreSQL transaction-level advisory locks serialising the
schema migration and a provider's evaluation, and SQLite's ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reference.mail import MaildirSink
from tests.fixtures.provider_server import ReferenceServer, StartServer
from tests.reliability.checks import (
    BASE_NOW,
    alert_settings,
    delivery_accounting,
    leftover_locks,
    lost_records,
)
from tests.reliability.conftest import TOKEN_ENV, Figures, provider_settings
from tests.reliability.processes import follow, start_worker, write_settings
from tests.reliability.test_crash_safety import prefect_env

ROUNDS = 2


def _touch(server: ReferenceServer, rng: random.Random) -> None:
    data = server.dataset
    moment = datetime.fromtimestamp(data.case_keys.keys[-1][0] + 60).astimezone()
    data.touch(0.2, rng.randrange(1_000_000), moment)


@pytest.mark.slow
def test_two_runs_at_once_send_once_lose_nothing_and_leave_no_lock(  # noqa: PLR0917
    start_reference_server: StartServer,
    own_database: str,
    smtp_sink: MaildirSink,
    set_provider_token: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    """Concurrent runs: no duplicate alert, no lost update, no lock left behind."""
    rng = random.Random(7)
    server = start_reference_server(cases=120, seed=31, invalid_share=0.1)
    provider = provider_settings("demo", server.url, page_size=15)
    settings = alert_settings(own_database, [provider], server.dataset, smtp_sink)
    settings_file = write_settings(settings, tmp_path / "settings.json")
    env = {TOKEN_ENV: set_provider_token}
    for round_ in range(ROUNDS):
        if round_:
            _touch(server, rng)
        now = (datetime.fromisoformat(BASE_NOW) + timedelta(minutes=round_)).isoformat()
        steps = "compliance" if round_ == ROUNDS - 1 else "sync,evaluate,notify"
        first = start_worker(
            settings_file, now, steps=steps, env={**env, **prefect_env(tmp_path / "p1")}
        )
        second = start_worker(
            settings_file, now, steps=steps, env={**env, **prefect_env(tmp_path / "p2")}
        )
        results = [follow(first), follow(second)]
        for result in results:
            assert result.returncode == 0, result.stderr[-3000:]
            assert result.done is not None, result.stderr[-3000:]
            for report in result.done.get("sync", []):
                assert report["errors"] == [], report["errors"]
            if "compliance" in result.done:
                assert result.done["compliance"]["state"] == "COMPLETED", result.done
        assert lost_records(own_database, "demo", server.dataset) == []
        acc = delivery_accounting(settings, smtp_sink)
        assert acc.problems == []
        assert acc.duplicates == 0
        assert acc.stuck_attempts == 0
        assert acc.alerts_open == 0
        assert leftover_locks(own_database) == []
        figures.add("concurrency", runs=2)
    figures.add(
        "concurrency",
        alerts_expected=acc.alerts_sent,
        alerts_delivered=acc.alerts_sent,
        alerts_duplicated=acc.duplicates,
        records_lost=0,
    )
