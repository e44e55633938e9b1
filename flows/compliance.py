"""``compliance-check``: check every provider (sync and evaluate), then notify.

    first, in the flow:                 the recipients validated (once for every check)
    for each provider, concurrently:   check-<id>   (sync, each page evaluated as stored,
                                                   then the provider's alerts planned and
                                                   written ahead; in worker processes,
                                                   one per core plus one)
    then, in the flow:                  the store's planner statistics refreshed where the
                                        checks changed many rows (PostgreSQL only)
    once, after all providers:          overview (the most pressing rows), notify (the
                                        day's reminder, any provider whose check did not
                                        plan, then delivery)
    then:                               artifacts, final state

One task run per provider plus two: the orchestration cost grows with providers, never
with cases. A provider that fails (down, 401, bad data) fails its own task with a clear
message; the others finish. A check has ``flows.check_timeout_seconds`` (default: the
longest provider sync cap plus 5 minutes) per attempt: in a worker it is stopped there,
and the flow waits for the checks only as long as their attempts and retry delays can
last; a check still running then is reported failed and notify goes out for the
providers that finished. The run ends Failed when any provider failed or any alert
stayed undelivered, Completed only when nothing was lost.

With ``flows.fan_out = "pool"`` the providers are checked instead by ``provider-check``
flow runs on the work pool, one per shard (:mod:`flows.pool`), their summaries read back
from Vahti's database, and notify plans the alerts.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, config_path
from core.errors import ConfigError, VahtiError, first_line
from core.process import tune_collector
from flows import pool, workers
from flows.artifacts import ARTIFACT_ROWS, publish_check
from flows.logs import vahti_logs
from flows.outcome import CheckOutcome, ProviderOutcome, ended, error_of
from flows.tasks import (
    check_task,
    notify_task,
    outages_task,
    overview_task,
    stored_checks_task,
)
from flows.workers import KILL_GRACE_SECONDS
from models.db import in_memory
from notifications.routing import check_recipients
from pipeline.steps import settings_from, statistics_step
from pipeline.summaries import CheckSummary

HELSINKI = ZoneInfo("Europe/Helsinki")

# Providers run concurrently on Prefect's default thread-pool task runner; its size is
# PREFECT_TASK_RUNNER_THREAD_POOL_MAX_WORKERS (default: the CPU count + 4, at most 32).


def helsinki_now(now: str | None = None) -> datetime:
    """``now`` parsed (must be aware) or the clock, in Europe/Helsinki."""
    if now is None:
        return datetime.now(HELSINKI)
    parsed = datetime.fromisoformat(now)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=HELSINKI)
    return parsed.astimezone(HELSINKI)


@flow(
    name="compliance-check",
    persist_result=False,
)
def compliance_check(
    config: str | None = None,
    today: str | None = None,
    now: str | None = None,
    full_sync: bool = False,
) -> State[dict[str, object]]:
    """Check every configured provider once and deliver the alerts that are due.

    Args:
        config: path of the Vahti TOML settings file (environment overrides apply);
            default: ``VAHTI_CONFIG`` in the worker's environment, else ``vahti.toml``.
        today: evaluation date (ISO); default: today in Europe/Helsinki.
        now: the notification clock (aware ISO timestamp); default: the current time.
        full_sync: ignore the incremental watermarks and fetch everything again.
    """
    tune_collector()
    with vahti_logs():
        return _check(config, today=today, now=now, full_sync=full_sync)


def _check(
    given: str | None, *, today: str | None, now: str | None, full_sync: bool
) -> State[dict[str, object]]:
    logger = get_run_logger()
    config = config_path(given)
    clock = helsinki_now(now)
    clock_at = clock.isoformat()  # each check plans its alerts at it; notify delivers them
    today_on = today or clock.date().isoformat()
    settings = settings_from(config)
    provider_ids = [p.id for p in settings.providers]
    pooled = settings.flows.fan_out == "pool"
    processes = 0 if pooled else provider_processes(settings, len(provider_ids))
    logger.info(
        "compliance check for %s: %d provider(s), %s",
        today_on,
        len(provider_ids),
        _where(settings, processes),
    )

    plan_at = clock_at if _recipients_valid(settings) else None
    if pooled:  # each shard reads the given settings path, else its worker's VAHTI_CONFIG
        providers = pool_checks(given, settings, today_on, full_sync=full_sync)
    else:
        providers = local_checks(
            config, settings, today_on, plan_at=plan_at, processes=processes, full_sync=full_sync
        )
    for failed in (p for p in providers if not p.ok):
        logger.error("provider %r failed: %s", failed.provider_id, failed.error)
    refresh_store_statistics(config)

    pressing = overview_task.submit(config, today_on, ARTIFACT_ROWS)
    planned = {p.provider_id: p.alerts for p in providers if p.ok and p.alerts is not None}
    release = not processes and not pooled  # the checks ran in this process
    notified = notify_task.submit(config, clock_at, planned=planned, release=release)
    pressing.wait()
    notified.wait()
    notify_error = error_of(notified)
    outcome = CheckOutcome(
        today_on=today_on,
        providers=providers,
        notify=notified.result() if notify_error is None else None,
        notify_error=notify_error,
        overview=pressing.result() if error_of(pressing) is None else None,
    )
    outcome = tell_operations(config, clock_at, outcome)
    publish_check(outcome)
    return finish(outcome)


def local_checks(
    config: str,
    settings: Settings,
    today_on: str,
    *,
    plan_at: str | None,
    processes: int,
    full_sync: bool,
) -> tuple[ProviderOutcome, ...]:
    """Every provider checked in this flow run (its worker processes): one task each, and
    each plans its alerts at ``plan_at`` (None: notify plans them)."""
    provider_ids = [p.id for p in settings.providers]
    delays = settings.flows.check_retry_delays  # a transient failure: the check again
    check = check_task.with_options(retries=len(delays), retry_delay_seconds=delays or 0)
    limit = settings.flows.check_timeout(settings.providers)
    with workers.provider_pool(processes):  # the workers exit before notify starts
        checks = {
            pid: check.submit(
                config, pid, today_on, full=full_sync, notify_at=plan_at, recipients_checked=True,
                timeout_seconds=limit,
            )
            for pid in provider_ids
        }  # fmt: skip
        until = time.monotonic() + check_wait(limit, delays, workers=processes > 0)
        return tuple(_provider_outcome(pid, checks[pid], until) for pid in provider_ids)


def pool_checks(
    given: str | None, settings: Settings, today_on: str, *, full_sync: bool
) -> tuple[ProviderOutcome, ...]:
    """Every provider checked by ``provider-check`` runs on the work pool (:mod:`flows.pool`),
    their summaries then read from Vahti's database; notify plans the alerts."""
    flows_ = settings.flows
    provider_ids = [p.id for p in settings.providers]
    limit = flows_.check_timeout(settings.providers)
    delays = flows_.check_retry_delays
    pooled = pool.run_shards(
        flows_.shard_deployment,
        pool.shards(provider_ids, flows_.shard_size),
        parameters={"today": today_on, "config": given, "full_sync": full_sync},
        attempts=flows_.shard_attempts,
        per_provider_seconds=check_wait(limit, delays, workers=False),
    )
    stored = stored_checks_task(config_path(given), sorted(pooled.checked), today_on)
    outcomes = []
    for pid in provider_ids:
        done = stored.get(pid)
        if pid in pooled.checked and done is not None:
            outcomes.append(
                ProviderOutcome(provider_id=pid, sync=done.sync, evaluation=done.evaluation)
            )
        else:
            outcomes.append(
                ProviderOutcome(provider_id=pid, error=pooled.errors.get(pid, "not checked"))
            )
    return tuple(outcomes)


def _where(settings: Settings, processes: int) -> str:
    if settings.flows.fan_out == "pool":
        return f"on the work pool in shards of {settings.flows.shard_size}"
    return f"{processes} worker process(es)" if processes else "in the flow's process"


def tell_operations(config: str, clock_at: str, outcome: CheckOutcome) -> CheckOutcome:
    """Operations told of failed providers and of those answering again (a failure to tell
    them is one more problem of the run)."""
    failed = {p.provider_id: p.error or "failed" for p in outcome.providers if not p.ok}
    answering = [p.provider_id for p in outcome.providers if p.ok]
    told = outages_task.submit(config, clock_at, failed, answering)
    told.wait()
    error = error_of(told)
    if error is None:
        return replace(outcome, extra={**outcome.extra, "operations_told": told.result()})
    return replace(outcome, operations_error=error)


def refresh_store_statistics(config: str) -> None:
    """The store's planner statistics, where the checks changed many rows (PostgreSQL): a
    failure is logged, never the run's (the checks' results are stored already)."""
    logger = get_run_logger()
    started = time.perf_counter()
    try:
        analyzed = statistics_step(config)
    except (SQLAlchemyError, VahtiError) as error:
        logger.warning(
            "database statistics not refreshed: %s: %s", type(error).__name__, first_line(error)
        )
        return
    if analyzed:
        logger.info(
            "database statistics refreshed for %d table(s) in %.1f s: %s",
            len(analyzed),
            time.perf_counter() - started,
            ", ".join(analyzed),
        )


def _recipients_valid(settings: Settings) -> bool:
    """Validate the recipients once, here, before the checks (their workers then plan alerts
    without loading Apprise). When they are invalid the checks do not plan, and notify
    fails with the same error, after the checks stored what they found."""
    try:
        check_recipients(settings.recipients)
    except ConfigError as error:
        get_run_logger().error("alerts not planned in the checks: %s", error)
        return False
    return True


def provider_processes(settings: Settings, providers: int) -> int:
    """Worker processes for the checks: none when the store is an in-memory SQLite database
    (another process would open an empty one of its own)."""
    if in_memory(settings.database.url):
        return 0
    return workers.processes_for(settings.flows.provider_processes, providers)


def check_wait(limit: float, delays: list[float], *, workers: bool) -> float:
    """How long the flow waits for its checks: every attempt at its time limit, the retry
    delays between them, and (in workers) the grace a stopped worker has to answer."""
    grace = KILL_GRACE_SECONDS if workers else 0.0
    return limit * (len(delays) + 1) + sum(delays) + grace


def _provider_outcome(
    provider_id: str, check: PrefectFuture[CheckSummary], until: float
) -> ProviderOutcome:
    check.wait(timeout=max(0.0, until - time.monotonic()))
    if not check.state.is_final():
        return ProviderOutcome(
            provider_id=provider_id,
            error="check did not finish in time (flows.check_timeout_seconds): reported failed, "
            "the other providers' alerts go out",
        )
    error = error_of(check)
    if error is not None:
        return ProviderOutcome(provider_id=provider_id, error=f"check {error}")
    done = check.result()
    return ProviderOutcome(
        provider_id=provider_id, sync=done.sync, evaluation=done.evaluation, alerts=done.alerts
    )


def finish(outcome: CheckOutcome) -> State[dict[str, object]]:
    """Completed with the outcome, or Failed naming every problem (outcome kept as data)."""
    done = "all providers checked, all alerts delivered"
    return ended(outcome.to_json(), outcome.problems(), done=done)
