"""Steps in worker processes (flows.workers): results, logs, errors, environment, deaths."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from core.errors import TransientProviderError, VahtiError
from flows import workers
from flows.compliance import provider_processes
from flows.pool import shards

ENV = "VAHTI_WORKER_TEST_VALUE"


# Steps: module-level functions, so a worker imports them by name.


def whoami() -> int:
    return os.getpid()


def environment_and_directory() -> tuple[str | None, str]:
    return os.environ.get(ENV), str(Path.cwd())


def chatty(count: int) -> int:
    log = logging.getLogger("providers.test-worker")
    for index in range(count):
        log.info("page %d of %s", index, "provider 'p1'")
    logging.getLogger("vahti.test-worker").debug("not shown: below INFO")
    return count


def fails() -> None:
    logging.getLogger("vahti.test-worker").warning("about to fail")
    raise TransientProviderError("HTTP 503", provider="p1", url="https://p1.invalid/v1/cases")


class UnpicklableError(Exception):
    def __init__(self) -> None:
        super().__init__("carries a lock")
        self.lock = __import__("threading").Lock()


def fails_unpicklably() -> None:
    raise UnpicklableError


def dies() -> None:
    os._exit(3)  # what the kernel's OOM killer looks like from the pool


@pytest.fixture
def pool() -> Iterator[int]:
    with workers.provider_pool(2) as size:
        yield size


def test_steps_run_in_other_processes_and_return_their_values(pool: int) -> None:
    assert pool == 2
    pids = {workers.run(whoami) for _ in range(6)}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_without_a_pool_a_step_runs_in_the_caller() -> None:
    assert workers.run(whoami) == os.getpid()
    with workers.provider_pool(0) as size:
        assert size == 0
        assert workers.run(whoami) == os.getpid()


def test_a_step_sees_the_callers_environment_and_directory(
    pool: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    del pool
    workers.run(whoami)  # the workers exist before the caller's environment changes
    monkeypatch.setenv(ENV, "token-set-after-start")
    monkeypatch.chdir(tmp_path)
    assert workers.run(environment_and_directory) == ("token-set-after-start", str(tmp_path))
    monkeypatch.delenv(ENV)
    assert workers.run(environment_and_directory)[0] is None


def test_log_records_come_back_to_the_callers_loggers(
    pool: int, caplog: pytest.LogCaptureFixture
) -> None:
    del pool
    caplog.set_level(logging.INFO)
    assert workers.run(chatty, 3) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "providers.test-worker"]
    assert lines == [f"page {i} of provider 'p1'" for i in range(3)]
    assert all(r.process != os.getpid() for r in caplog.records if r.name.endswith("test-worker"))
    assert "not shown" not in caplog.text


def test_errors_come_back_with_their_type_attributes_and_traceback(
    pool: int, caplog: pytest.LogCaptureFixture
) -> None:
    del pool
    caplog.set_level(logging.INFO)
    with pytest.raises(TransientProviderError) as caught:
        workers.run(fails)
    assert caught.value.provider == "p1"
    assert caught.value.status is None
    assert "HTTP 503" in str(caught.value)
    assert isinstance(caught.value.__cause__, workers.RemoteTracebackError)
    assert "in fails" in str(caught.value.__cause__)
    assert "about to fail" in caplog.text  # the records before the error are kept

    with pytest.raises(VahtiError, match="UnpicklableError: carries a lock"):
        workers.run(fails_unpicklably)


def test_a_dead_worker_fails_its_step_clearly_and_the_pool_goes_on(pool: int) -> None:
    del pool
    with pytest.raises(workers.WorkerError, match="died before answering"):
        workers.run(dies)
    assert workers.run(whoami) != os.getpid()  # a new pool took the broken one's place


def test_workers_exit_when_the_block_ends() -> None:
    with workers.provider_pool(2):
        pids = {workers.run(whoami) for _ in range(4)}
    assert workers.run(whoami) == os.getpid()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("setting", "tasks", "expected"),
    [(0, 10, 0), (3, 10, 3), (3, 2, 2), (5, 0, 0), ("auto", 1, 0)],
)
def test_processes_for(setting: int | str, tasks: int, expected: int) -> None:
    assert workers.processes_for(setting, tasks) == expected


def test_auto_is_one_per_usable_core_plus_one_when_there_are_two_or_more() -> None:
    cores = len(os.sched_getaffinity(0))
    assert workers.processes_for("auto", 100) == (cores + 1 if cores >= 2 else 0)
    assert workers.processes_for("auto", 2) == (2 if cores >= 2 else 0)  # never above tasks


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:///:memory:", 0), ("sqlite:///vahti.db", 2)],
)
def test_an_in_memory_store_keeps_the_checks_in_the_flow_process(url: str, expected: int) -> None:
    settings = Settings.model_validate(
        {"database": {"url": url}, "flows": {"provider_processes": 2}}
    )
    assert provider_processes(settings, 5) == expected


def test_the_fork_servers_warm_up_imports_and_fills_the_caches() -> None:
    """``flows._warm`` (the fork server's last preload) must import cleanly: the fork server
    skips a preload that raises ImportError, silently."""
    code = (
        "import sys, pipeline.steps, flows._warm; from rules import calendar; "
        "print(calendar._holiday_names.cache_info().currsize > 0, "
        "'alembic' in sys.modules, 'apprise' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    # the schema check needs no Alembic; the workers plan alerts without Apprise
    assert done.stdout.split() == ["True", "False", "False"]


def test_flows_set_the_recorder_defaults_without_overriding() -> None:
    """Importing ``flows`` puts the task run recorder's batch settings in the environment
    (the ephemeral Prefect server reads them there) and keeps a value already set."""
    code = (
        "import os; os.environ['PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE'] = '7'; "
        "import flows; print(os.environ['PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE'], "
        "os.environ['PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert done.stdout.split() == ["7", "1"]


def test_pool_shards_cover_every_provider_once_in_order() -> None:
    """Providers split into consecutive shards of at most the size, none empty."""
    assert shards(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert shards([], 25) == []
    assert shards(["a"], 25) == [["a"]]
