"""``provider-check``: check one shard of providers, for a ``compliance-check`` in pool mode.

    for each provider of the shard, one after another:   check-<id>   (sync, evaluate,
                                                                      store: as the local check)
    then:                                                 final state

Any worker of the pool may run it (``run_deployment`` from :mod:`flows.pool`). Everything
it finds goes to Vahti's database; the parent reads the providers' summaries from there,
so no Prefect result storage is shared between machines. Alerts are not planned here: the
parent's notify plans and delivers them once, through the write-ahead ledger.

Stopping: SIGTERM (or the worker that started this process dying) raises Prefect's
termination signal in the running check; the page being written rolls back, the pages
committed before it stay, the sync run is recorded as interrupted, and the run ends
Crashed, which the parent re-submits. The run ends Failed naming each provider whose
check failed, Completed when every one passed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from core.config import config_path
from core.process import tune_collector
from flows.logs import vahti_logs
from flows.outcome import PROBLEM_CHARS
from flows.tasks import check_task
from pipeline.steps import settings_from

log = logging.getLogger("flows.provider_check")

#: How often the flow looks whether the process that started it is still there (seconds).
PARENT_POLL_SECONDS = 1.0


@flow(name="provider-check", persist_result=False)
def provider_check(
    providers: list[str],
    today: str,
    config: str | None = None,
    full_sync: bool = False,
) -> State[None]:
    """Check each provider of ``providers`` on ``today`` (ISO) and store what was found.

    Args:
        providers: provider ids of this shard.
        today: evaluation date (ISO), the parent check's.
        config: settings file; default: ``VAHTI_CONFIG`` on the worker, else ``vahti.toml``.
        full_sync: ignore the incremental watermarks and fetch everything again.
    """
    tune_collector()
    stop_with_parent()
    with vahti_logs():
        return _check_shard(config_path(config), providers, today=today, full_sync=full_sync)


def _check_shard(config: str, providers: list[str], *, today: str, full_sync: bool) -> State[None]:
    logger = get_run_logger()
    settings = settings_from(config)
    delays = settings.flows.check_retry_delays
    check = check_task.with_options(retries=len(delays), retry_delay_seconds=delays or 0)
    problems: list[str] = []
    for provider_id in providers:  # in this thread: a termination signal stops the check
        state = check(config, provider_id, today, full=full_sync, return_state=True)
        if not state.is_completed():
            reason = (state.message or state.name or "failed").splitlines()[0][:PROBLEM_CHARS]
            problems.append(f"provider {provider_id!r}: {reason}")
    for problem in problems:
        logger.error("%s", problem)
    if problems:
        return Failed(message="; ".join(problems))
    return Completed(message=f"{len(providers)} provider(s) checked")


def stop_with_parent() -> None:
    """SIGTERM this process when the process that started it (the worker) is gone, so a
    killed worker never leaves a check running unwatched beside its re-submitted shard."""
    parent = os.getppid()
    if parent <= 1:
        return

    def watch() -> None:
        while not stopped.wait(PARENT_POLL_SECONDS):
            if os.getppid() != parent:
                log.warning("the worker that started this run is gone: stopping")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    stopped = threading.Event()
    threading.Thread(target=watch, name="vahti-parent-watch", daemon=True).start()
