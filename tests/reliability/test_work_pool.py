"""compliance-check spread over a real work pool: a Prefect server on PostgreSQL, two
``prefect worker start`` processes, Vahti on PostgreSQL, the reference provider and SMTP.

The server, the pool, the deployments and the workers start once for this module; each
check gets its own Vahti database and mailbox. Every process is stopped in a finally.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reference.faults import Faults
from reference.generator import generate_dataset
from reference.mail import MaildirSink
from reference.server import create_app
from reference.server_run import RunningServer, run_in_thread
from tests.fixtures.database import POSTGRES_ENV, postgres_database_url
from tests.flows.conftest import NOW, TODAY, TOKEN

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"),
]

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8")
SHARD_SIZE = 2  # four shards: more than one worker's slots, so both take some
WORKERS = ("vahti-worker-a", "vahti-worker-b")
TOKEN_ENV = "POOL_TEST_TOKEN"
START_TIMEOUT = 120.0  # seconds: the server, a CLI call
RUN_TIMEOUT = 420.0  # seconds: one whole check (process starts are slow on a busy machine)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pool:
    """The running parts: the API, the workers (by name), the provider, the logs folder."""

    api_url: str
    workers: dict[str, subprocess.Popen[bytes]]
    provider: RunningServer
    logs: Path
    env: dict[str, str]


def _prefect(args: list[str], env: dict[str, str], logs: Path, name: str) -> None:
    """A ``prefect`` CLI call that must succeed (its output kept in ``logs``)."""
    with (logs / f"{name}.log").open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=START_TIMEOUT,
            check=False,
        )  # fmt: skip
    assert done.returncode == 0, (logs / f"{name}.log").read_text(errors="replace")[-3000:]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The process and everything it started (its own session), TERM then KILL."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            return


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    until = time.monotonic() + START_TIMEOUT
    while time.monotonic() < until:
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer in {START_TIMEOUT:g} s")


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """A Prefect server on PostgreSQL, the ``vahti`` process pool with Vahti's deployments,
    two workers and the reference provider with eight providers."""
    base = os.environ[POSTGRES_ENV]
    logs = tmp_path_factory.mktemp("pool-logs")
    processes: list[subprocess.Popen[bytes]] = []
    datasets = {
        pid: generate_dataset(cases=60, seed=n, today=TODAY, provider_id=pid, invalid_share=0.05)
        for n, pid in enumerate(PROVIDERS, start=1)
    }
    faults = Faults(latency_ms=500)  # each shard takes seconds: a worker can be lost mid-run
    with (
        postgres_database_url(base) as prefect_db,
        run_in_thread(create_app(datasets, token=TOKEN, faults=faults)) as provider,
    ):
        port = _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VAHTI_"))}
        env |= {
            "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_EXTRA_LOGGERS": "vahti,providers,models,notifications,flows",
        }
        server_env = env | {
            "PREFECT_API_DATABASE_CONNECTION_URL": make_url(prefect_db)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False),
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # no hourly runs here
            "PREFECT_UI_ENABLED": "false",
        }
        server_env.pop("PREFECT_API_URL")
        try:
            server = _spawn(
                ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                server_env,
                logs / "server.log",
            )
            processes.append(server)
            _wait_healthy(api_url, server, logs / "server.log")
            _prefect(["work-pool", "create", "vahti", "--type", "process"], env, logs, "pool")
            deploy = [
                "--no-prompt",
                "deploy",
                "--all",
                "--prefect-file",
                "deployments/prefect.yaml",
            ]
            _prefect(deploy, env, logs, "deploy")
            worker_env = env | {
                "VAHTI_HOME": str(ROOT),  # read by the pull step on the worker, per run
                TOKEN_ENV: TOKEN,
                "PREFECT_WORKER_QUERY_SECONDS": "1",
            }
            workers = {}
            for name in WORKERS:
                workers[name] = _spawn(
                    ["worker", "start", "--pool", "vahti", "--name", name, "--limit", "2"],
                    worker_env,
                    logs / f"{name}.log",
                )
                processes.append(workers[name])
            yield Pool(api_url=api_url, workers=workers, provider=provider, logs=logs, env=env)
        finally:
            for process in reversed(processes):
                _stop(process)


@dataclass
class Site:
    config: Path
    database_url: str
    sink: MaildirSink


@contextlib.contextmanager
def _site(root: Path, provider: RunningServer) -> Iterator[Site]:
    """A Vahti installation in pool mode: its own PostgreSQL database and SMTP sink."""
    with (
        postgres_database_url(os.environ[POSTGRES_ENV]) as database_url,
        MaildirSink(record=True) as sink,
    ):
        mail = f"mailto://127.0.0.1:{sink.port}?mode=insecure&from=v@example.invalid"
        lines = [
            f'reports_dir = "{root / "reports"}"',
            "[database]",
            f'url = "{database_url}"',
            "[flows]",
            'fan_out = "pool"',
            f"shard_size = {SHARD_SIZE}",
            "shard_attempts = 3",
            "check_retry_delays = []",
        ]
        for pid in PROVIDERS:
            lines += [
                "[[providers]]",
                f'id = "{pid}"',
                f'base_url = "{provider.url}/{pid}"',
                f'token_env = "{TOKEN_ENV}"',
                "page_size = 20",
            ]
        lines += [
            "[[recipients.quality]]",
            'name = "quality"',
            f'urls = ["{mail}&to=quality@example.invalid"]',
        ]
        root.mkdir(parents=True, exist_ok=True)
        config = root / "vahti.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield Site(config=config, database_url=database_url, sink=sink)


def _start_check(site: Site) -> FlowRun:
    run: FlowRun = run_deployment(
        name="compliance-check/hourly",
        parameters={"config": str(site.config), "today": TODAY.isoformat(), "now": NOW},
        timeout=0,
    )  # type: ignore[assignment]
    return run


def _read(run_id: UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def _shards_since(started: Any) -> list[FlowRun]:
    """The provider-check runs started since ``started`` (oldest first)."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["provider-check"])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=started)
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )


def _wait_final(run_id: UUID, logs: Path) -> FlowRun:
    until = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < until:
        run = _read(run_id)
        if run.state is not None and run.state.is_final():
            return run
        time.sleep(2.0)
    tails = {p.name: p.read_text(errors="replace")[-2000:] for p in logs.glob("*.log")}
    pytest.fail(f"compliance-check not final in {RUN_TIMEOUT:g} s; logs: {tails}")


def _stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a check leaves in Vahti's database that must not depend on how it got there."""
    queries = {
        "deadlines": "SELECT provider_id, subject, rule, status, due_on FROM deadline_record "
        "WHERE is_current",
        "cases": "SELECT provider_id, case_ref FROM provider_case",
        "rejected": "SELECT provider_id, kind, content_hash FROM rejected_payload",
        "alerts": "SELECT provider_id, dedup_key, recipient_key, status, attempts FROM alert",
    }
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: sorted(tuple(row) for row in connection.execute(text(query)))
                for name, query in queries.items()
            }
    finally:
        engine.dispose()


def _kill_a_shard_worker(pool: Pool, check_id: UUID, started: Any) -> str:
    """SIGKILL (the worker alone, as a lost machine) a worker that is running a shard and
    not the check itself, a moment after that shard started; the worker's name."""
    until = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < until:
        home = _worker(_read(check_id))
        running = [
            s
            for s in _shards_since(started)
            if s.state and s.state.type is StateType.RUNNING and _worker(s) not in {None, home}
        ]
        if home is not None and running:
            victim = _worker(running[0])
            assert victim is not None
            time.sleep(1.0)  # into its checks: some pages stored, others not yet
            wrapper = pool.workers[victim]
            for pid in (*_children(wrapper.pid), wrapper.pid):  # the CLI runs the worker
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wrapper.wait(timeout=30)
            return victim
        time.sleep(0.5)
    pytest.fail("no shard ran on a worker other than the check's own")


def _task_runs(flow_run_ids: list[UUID]) -> int:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        )
    return len(runs)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started directly (Linux /proc); their own children are left."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _worker(run: FlowRun) -> str | None:
    return run.labels.get("prefect.worker.name") if run.labels else None


def test_a_check_spreads_over_both_workers(pool: Pool, tmp_path: Path) -> None:
    """A pool check's shards run on both workers; it completes, stores and mails once."""
    with temporary_settings({PREFECT_API_URL: pool.api_url}):
        with _site(tmp_path / "calm", pool.provider) as calm:
            check = _start_check(calm)
            started = check.created
            parent = _wait_final(check.id, pool.logs)
            assert parent.state is not None
            assert parent.state.type is StateType.COMPLETED, parent.state.message
            shards = _shards_since(started)
            assert len(shards) == len(PROVIDERS) // SHARD_SIZE
            assert {_worker(s) for s in shards} == set(WORKERS)
            objects = 1 + len(shards) + _task_runs([check.id, *(s.id for s in shards)])
            assert objects <= 2 * len(PROVIDERS) + 10, objects  # grows with providers only
            calm_data = _stored(calm.database_url)
            calm_mail = len(calm.sink.messages)
        assert calm_data["cases"]
        assert calm_data["deadlines"]
        assert calm_data["alerts"]
        statuses = {status for *_, status, _attempts in calm_data["alerts"]}
        assert "sent" in statuses
        assert statuses <= {"sent", "summarized"}  # a first check's old breaches: the backlog
        assert calm_mail == 1  # one digest for the one recipient


@pytest.mark.skip(
    reason="not robust yet (issue 25): when the worker process itself is SIGKILLed, the "
    "shards it held stay Running on the server and the check waits for their bound"
)
def test_a_check_survives_a_killed_worker(pool: Pool, tmp_path: Path) -> None:
    """After one worker is SIGKILLed mid-check, the check still completes with every
    provider, each alert mailed once, and the same stored data as a calm run."""
    with temporary_settings({PREFECT_API_URL: pool.api_url}):
        with _site(tmp_path / "calm", pool.provider) as calm:
            check = _start_check(calm)
            _wait_final(check.id, pool.logs)
            calm_data = _stored(calm.database_url)
            calm_mail = len(calm.sink.messages)
        with _site(tmp_path / "killed", pool.provider) as killed:
            check = _start_check(killed)
            started = check.created
            victim = _kill_a_shard_worker(pool, check.id, started)
            parent = _wait_final(check.id, pool.logs)
            assert parent.state is not None
            assert parent.state.type is StateType.COMPLETED, parent.state.message
            shards = _shards_since(started)
            lost = [
                s
                for s in shards
                if s.state and s.state.type in {StateType.CRASHED, StateType.CANCELLED}
            ]
            assert lost, [(s.name, s.state and s.state.type) for s in shards]
            assert all(_worker(s) == victim for s in lost)
            assert len(shards) > len(PROVIDERS) // SHARD_SIZE  # the lost shard ran again
            assert _stored(killed.database_url) == calm_data
            assert len(killed.sink.messages) == calm_mail
