"""``watchdog``: tell operations when no compliance check has completed recently.

A small scheduled flow rather than a Prefect automation: it runs the same way under
``serve``, a work pool and the ephemeral API, it reuses Vahti's operations
recipients (Apprise URLs from the settings, masked in logs), and its own runs are
visible and testable. Its schedule (deployments/) is offset from the checks so it
looks at the run that should just have finished. An equivalent server-side
automation is described in docs/operations.md for sites that prefer one.

The watchdog itself cannot report its own absence: monitor the Prefect server (or
add the automation) when that matters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import State, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Completed

from core.config import config_path
from flows.compliance import helsinki_now
from flows.logs import vahti_logs
from flows.outcome import ended
from pipeline.steps import alert_operations_step

WATCHED_FLOW = "compliance-check"


@task(name="last-completed-check", persist_result=False, retries=2, retry_delay_seconds=10)
def last_completed_at(flow_name: str = WATCHED_FLOW) -> str | None:
    """When the newest Completed run of ``flow_name`` ended (ISO), or None."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
            ),
            sort=FlowRunSort.END_TIME_DESC,
            limit=1,
        )
    if not runs or runs[0].end_time is None:
        return None
    return runs[0].end_time.isoformat()


def staleness(last_at: str | None, now: datetime, max_age: timedelta) -> str | None:
    """Why the check is overdue, or None when a recent enough run completed."""
    if last_at is None:
        return f"no {WATCHED_FLOW} run has ever completed"
    age = now - datetime.fromisoformat(last_at)
    if age <= max_age:
        return None
    minutes = int(age.total_seconds() // 60)
    return (
        f"the last completed {WATCHED_FLOW} ended {minutes} min ago "
        f"(at {last_at}); expected within {int(max_age.total_seconds() // 60)} min"
    )


#: The watchdog's alert to operations (a rule of the ledger's, not of the engine).
OVERDUE_RULE = "CHECK-OVERDUE"


@task(name="alert-operations", persist_result=False)
def alert_operations_task(config: str, now_at: str, reason: str) -> int:
    """Tell operations the check is overdue (through the ledger: once a day); rows written."""
    return alert_operations_step(
        config, now_at, rule=OVERDUE_RULE, subject=WATCHED_FLOW, reason=reason
    )


@flow(name="watchdog", persist_result=False)
def watchdog(config: str | None = None, max_age_minutes: int = 90) -> State[dict[str, object]]:
    """Alert operations when no compliance-check completed within ``max_age_minutes``.

    Args:
        config: the Vahti settings file with the operations recipients (default:
            ``VAHTI_CONFIG``, else ``vahti.toml``).
        max_age_minutes: the expected interval plus slack (hourly checks: 90).
    """
    config = config_path(config)
    with vahti_logs():
        logger = get_run_logger()
        now = helsinki_now()
        last_at = last_completed_at()
        problem = staleness(last_at, now, timedelta(minutes=max_age_minutes))
        if problem is None:
            logger.info("last %s completed at %s: fine", WATCHED_FLOW, last_at)
            return Completed(data={"ok": True, "last_completed_at": last_at, "alerted": 0})
        logger.warning("watchdog: %s", problem)
        delivered = alert_operations_task(config, now.isoformat(), problem)
        data: dict[str, object] = {"ok": False, "last_completed_at": last_at, "alerted": delivered}
        return ended(data, [f"{problem}; operations alerted ({delivered})"], done="")
