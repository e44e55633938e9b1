"""The full compliance-check, end to end, in a child process per run.

Each scenario gets a fresh Vahti database (SQLite file or a new PostgreSQL database) and
a fresh, isolated Prefect home with the ephemeral API. Measured per run: wall time of
the flow call (and of the whole child process, with Python and Prefect start-up), the
largest peak RSS of one of its processes and the PSS of them all (sampled), rows
written to Vahti's database (row counts before and after, per table) and Prefect task
runs created (counted from the Prefect API).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, inspect, select, table, text

from bench.child import PORT_ENV
from bench.memory import TreeMemory
from bench.server import ProviderProcess

TOKEN_ENV = "VAHTI_BENCH_TOKEN"
PYSPY_ENV = "VAHTI_BENCH_PYSPY"  # a file prefix: run the flow process under py-spy record


@dataclass
class RunResult:
    label: str
    flow_seconds: float
    process_seconds: float
    # The largest peak RSS of one process of the tree (each one's VmHWM, sampled). Not
    # wait4's ru_maxrss: a child started by vfork and exec inherits the high-water mark
    # of the bench process itself, which the floor's parsing raises to ~1.8 GB at 100k.
    peak_rss_mb: float
    flow_rss_mb: float  # the flow process alone (its VmHWM; without Prefect's API server)
    rows_written: int
    rows_by_table: dict[str, int]
    task_runs: int
    state: str
    child: dict[str, Any] = field(default_factory=dict)
    vahti_pss_mb: float = 0.0  # flow process + fork server + workers at once (sampled PSS)
    tree_pss_mb: float = 0.0  # the same plus Prefect's ephemeral API server
    processes: int = 0  # Vahti's processes alive at once, at most
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per role, sampled


@dataclass
class Site:
    """One Vahti installation: config, database, Prefect home."""

    root: Path
    database_url: str
    config: Path
    prefect_home: Path
    drop: str | None = None  # a PostgreSQL database to drop afterwards


def _mail(to: str) -> str:
    return f"mailto://127.0.0.1:${{{PORT_ENV}}}?mode=insecure&from=vahti@example.invalid&to={to}"


def make_site(root: Path, server: ProviderProcess, db: str, postgres_url: str | None) -> Site:
    """A config for every provider the server serves, on SQLite or a new PostgreSQL db."""
    root.mkdir(parents=True, exist_ok=True)
    drop = None
    if db == "postgres":
        if not postgres_url:
            raise SystemExit("--db postgres needs --postgres-url or VAHTI_TEST_POSTGRES_URL")
        drop = f"vahti_bench_{uuid.uuid4().hex[:10]}"
        _admin(postgres_url, f'CREATE DATABASE "{drop}"')
        database_url = postgres_url.rsplit("/", 1)[0] + f"/{drop}"
    else:
        database_url = f"sqlite:///{(root / 'vahti.db').resolve()}"
    lines = [
        f'reports_dir = "{(root / "reports").resolve()}"',
        "[database]",
        f'url = "{database_url}"',
    ]
    for pid in server.ids:
        lines += [
            "[[providers]]",
            f'id = "{pid}"',
            f'base_url = "{server.base_url(pid)}"',
            f'token_env = "{TOKEN_ENV}"',
        ]
    lines += [
        "[[recipients.quality]]", 'name = "quality"', 'language = "fi"',
        f'urls = ["{_mail("quality@example.invalid")}"]',
        "[[recipients.operations]]", 'name = "operations"', 'language = "en"',
        f'urls = ["{_mail("operations@example.invalid")}"]',
    ]  # fmt: skip
    config = root / "vahti.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    home = (root / "prefect").resolve()
    home.mkdir(exist_ok=True)
    return Site(root, database_url, config, home, drop)


def _admin(postgres_url: str, statement: str) -> None:
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def drop_site(site: Site, postgres_url: str | None) -> None:
    if site.drop and postgres_url:
        _admin(postgres_url, f'DROP DATABASE IF EXISTS "{site.drop}" WITH (FORCE)')


def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table of Vahti's database (empty before the first run)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
            return {
                name: int(
                    connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                )
                for name in names
            }
    finally:
        engine.dispose()


def child_env(site: Site, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(site.prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{site.prefect_home}/prefect.db",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a busy 2-core machine
        TOKEN_ENV: token,
    })  # fmt: skip
    return env


def run_flow(
    site: Site, token: str, *, label: str, today: str, now: str, mode: str = "full"
) -> RunResult:
    """One flow run in a child process; rows, time, RSS and task runs."""
    before = row_counts(site.database_url)
    command = [sys.executable, "-m", "bench.child", mode, str(site.config), today, now]
    spy = os.environ.get(PYSPY_ENV)
    if spy:  # sample every thread of the flow process (py-spy installed by hand, not a dependency)
        py_spy = str(Path(sys.executable).with_name("py-spy"))
        command = [
            py_spy,
            "record",
            "-r",
            "50",
            "--subprocesses",  # the fork server's workers too
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            f"{spy}-{label}.txt",
            "--",
            *command,
        ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, env=child_env(site, token), text=True
    )
    assert process.stdout is not None
    memory = TreeMemory(process.pid, interval=1.0)
    memory.start()
    output = process.stdout.read()
    memory.stop()
    _, status = os.waitpid(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if process.returncode != 0:
        raise RuntimeError(f"{label}: the flow process exited with {process.returncode}")
    child = json.loads(next(ln for ln in reversed(output.splitlines()) if ln.startswith("{")))
    after = row_counts(site.database_url)
    written = {name: after[name] - before.get(name, 0) for name in after}
    return RunResult(
        label=label,
        flow_seconds=float(child["flow_seconds"]),
        process_seconds=seconds,
        peak_rss_mb=max(memory.largest_mb, float(child.get("flow_process_peak_mb", 0.0))),
        flow_rss_mb=float(child.get("flow_process_peak_mb", 0.0)),
        rows_written=sum(n for n in written.values() if n > 0),
        rows_by_table={k: v for k, v in written.items() if v},
        task_runs=int(child["task_runs"]),
        state=str(child["state"]),
        child=child,
        vahti_pss_mb=memory.vahti_mb,
        tree_pss_mb=memory.tree_mb,
        processes=memory.processes,
        cpu_seconds=memory.cpu_seconds,
    )
