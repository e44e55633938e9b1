"""Crash safety: SIGKILL a real Vahti process during sync and during delivery, then recover.

The reference server and the SMTP sink live in this test process, so they survive the
kills. A seeded loop kills worker processes at chosen events (a page written but not
committed; a digest claimed; a digest accepted by the SMTP server before the ledger
knows), touching the provider's data between the sync kills so there are new revisions
to lose. A clean run then finishes, and the store and the mailboxes are compared with
the server's data and a crash-free control run.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.config import Settings
from notifications.service import notify
from providers.sync import sync_all
from reference.mail import MaildirSink
from tests.fixtures.provider_server import ReferenceServer, StartServer
from tests.reliability.checks import (
    BASE_NOW,
    alert_settings,
    delivery_accounting,
    lost_records,
)
from tests.reliability.conftest import TOKEN_ENV, Figures, provider_settings
from tests.reliability.processes import KillAt, run_worker, write_settings

SYNC_KILLS = 3
DELIVERY_KILLS = 3


def _touch(server: ReferenceServer, rng: random.Random) -> None:
    data = server.dataset
    moment = datetime.fromtimestamp(data.case_keys.keys[-1][0] + 60).astimezone()
    data.touch(0.15, rng.randrange(1_000_000), moment)


def _now(run: int) -> str:
    """Each run 2 minutes after the previous: a crashed run's 1-minute claim lease has expired."""
    return (datetime.fromisoformat(BASE_NOW) + timedelta(minutes=2 * run)).isoformat()


def _settings(url: str, server: ReferenceServer, sink: MaildirSink) -> Settings:
    provider = provider_settings("demo", server.url, page_size=10)
    return alert_settings(url, [provider], server.dataset, sink)


@pytest.mark.slow
def test_sigkill_during_sync_and_delivery_loses_nothing_and_sends_once(  # noqa: PLR0917
    start_reference_server: StartServer,
    database_url: str,
    smtp_sink: MaildirSink,
    set_provider_token: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    """Killed runs lose no case, reject or alert; each alert reaches SMTP once (or is counted)."""
    rng = random.Random(20260401)
    server = start_reference_server(cases=150, seed=21, invalid_share=0.1)
    settings = _settings(database_url, server, smtp_sink)
    settings_file = write_settings(settings, tmp_path / "settings.json")
    env = {TOKEN_ENV: set_provider_token}
    kills = runs = 0
    killed_in: list[str] = []
    for i in range(SYNC_KILLS):
        _touch(server, rng)
        kill = KillAt(frozenset({"page"}), rng.randint(1, 4), rng.uniform(0, 0.02))
        result = run_worker(settings_file, _now(runs), steps="sync", env=env, kill=kill)
        runs += 1
        assert result.killed_at or result.done, result.stderr[-2000:]
        if result.killed_at:
            kills += 1
            killed_in.append(f"sync#{i}")
    for i in range(DELIVERY_KILLS):
        point = rng.choice(["claimed", "delivered"])
        kill = KillAt(frozenset({point}), rng.randint(1, 3), rng.uniform(0, 0.02))
        result = run_worker(
            settings_file, _now(runs), steps="sync,evaluate,notify", env=env, kill=kill
        )
        runs += 1
        assert result.killed_at or result.done, result.stderr[-2000:]
        if result.killed_at:
            kills += 1
            killed_in.append(f"{point}#{i}")
    final = run_worker(settings_file, _now(runs), steps="sync,evaluate,notify", env=env)
    runs += 1
    assert final.done is not None, final.stderr[-2000:]
    assert final.killed_at is None
    assert kills >= SYNC_KILLS + DELIVERY_KILLS - 1, f"too few kills landed: {killed_in}"

    lost = lost_records(database_url, "demo", server.dataset)
    assert lost == []
    acc = delivery_accounting(settings, smtp_sink)
    assert acc.problems == []
    assert acc.alerts_open == 0
    assert acc.duplicates <= acc.stuck_attempts
    expected = _control_run(tmp_path, server, smtp_sink, final_now=_now(runs - 1))
    assert acc.alerts_sent == expected
    figures.add(
        "crash_safety",
        faults_injected=kills,
        runs=runs,
        alerts_expected=expected,
        alerts_delivered=acc.alerts_sent,
        alerts_duplicated=acc.duplicates,
        attempts_in_doubt=acc.stuck_attempts,
        records_lost=len(lost),
    )


def _control_run(
    tmp_path: Path, server: ReferenceServer, sink: MaildirSink, *, final_now: str
) -> int:
    """How many alerts a crash-free run on a fresh database plans for the same data and time."""
    from tests.reliability.worker import evaluate  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'control.db'}"
    settings = _settings(url, server, sink)
    (report,) = sync_all(settings)
    assert report.ok, report.errors
    now = datetime.fromisoformat(final_now)
    evaluate(settings, now)
    return notify(settings, now=now, dry_run=True).planned


def prefect_env(home: Path) -> dict[str, str]:
    """Prefect's ephemeral API with its own database, quiet logs (for flow subprocesses)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": "",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


COMPLIANCE_KILLS = 3


@pytest.mark.slow
def test_sigkill_compliance_check_flow_loses_nothing_and_sends_once(  # noqa: PLR0917
    start_reference_server: StartServer,
    sqlite_url: str,
    smtp_sink: MaildirSink,
    set_provider_token: str,
    tmp_path: Path,
    figures: Figures,
) -> None:
    """compliance-check processes killed during sync and delivery: nothing lost, each alert once."""
    rng = random.Random(7031)
    server = start_reference_server(cases=100, seed=41, invalid_share=0.1)
    settings = _settings(sqlite_url, server, smtp_sink)
    settings_file = write_settings(settings, tmp_path / "settings.json")
    env = {TOKEN_ENV: set_provider_token, **prefect_env(tmp_path / "prefect")}
    kills = runs = 0
    killed_in: list[str] = []
    plan = ["page", "delivered", "claimed"]
    for i, point in enumerate(plan[:COMPLIANCE_KILLS]):
        if point == "page":
            _touch(server, rng)
        kill = KillAt(frozenset({point}), rng.randint(1, 2), rng.uniform(0, 0.02))
        result = run_worker(settings_file, _now(runs), steps="compliance", env=env, kill=kill)
        runs += 1
        assert result.killed_at or result.done, result.stderr[-2000:]
        if result.killed_at:
            kills += 1
            killed_in.append(f"{point}#{i}")
    final = run_worker(settings_file, _now(runs), steps="compliance", env=env)
    runs += 1
    assert final.done is not None, final.stderr[-2000:]
    assert final.done["compliance"]["state"] == "COMPLETED", final.done
    assert kills == COMPLIANCE_KILLS, f"a kill did not land: {killed_in}"
    lost = lost_records(sqlite_url, "demo", server.dataset)
    assert lost == []
    acc = delivery_accounting(settings, smtp_sink)
    assert acc.problems == []
    assert acc.alerts_open == 0
    assert acc.duplicates <= acc.stuck_attempts
    figures.add(
        "crash_safety_compliance_check",
        faults_injected=kills,
        runs=runs,
        alerts_expected=acc.alerts_sent,
        alerts_delivered=acc.alerts_sent,
        alerts_duplicated=acc.duplicates,
        attempts_in_doubt=acc.stuck_attempts,
        records_lost=len(lost),
    )
