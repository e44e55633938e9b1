"""Prefect tasks: each one is the retry boundary around one plain step in pipeline.steps.

Tasks take plain values (the configuration path, a provider id, ISO dates) and return
small summaries. Results are never persisted (they live in memory for the run only):
everything durable is in Vahti's own database.
"""

from __future__ import annotations

from prefect import Task, task
from prefect.client.schemas.objects import State, TaskRun

from core.errors import TransientProviderError
from flows import workers
from notifications.counts import AlertPlanSummary
from pipeline import reporting, suppressions
from pipeline import steps as pipeline
from pipeline.summaries import (
    CheckSummary,
    EvaluationSummary,
    NotifySummary,
    Overview,
)
from pipeline.suppressions import Kind, SuppressionSummary


def _transient(task_: Task[..., object], task_run: TaskRun, state: State[object]) -> bool:
    """Retry only what may pass by itself: transport errors, 408, 429, 5xx."""
    del task_, task_run
    error = state.result(raise_on_failure=False)
    return isinstance(error, TransientProviderError)


@task(
    name="check",
    task_run_name="check-{provider_id}",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=_transient,
    persist_result=False,
)
def check_task(
    config: str,
    provider_id: str,
    today_on: str,
    *,
    full: bool = False,
    rows: bool = False,
    notify_at: str | None = None,
    recipients_checked: bool = False,
    timeout_seconds: float | None = None,
) -> CheckSummary:
    """Sync one provider and evaluate it, page by page (the scheduled check, one task each);
    with ``notify_at``, plan its alerts too (the run's notify delivers them);
    ``recipients_checked``: the flow validated the recipients before its checks.

    Runs in one of the flow's worker processes while it has them (:mod:`flows.workers`),
    stopped there after ``timeout_seconds`` (in the flow's process the flow bounds its wait).
    """
    return workers.run_within(
        timeout_seconds, pipeline.check_step, config, provider_id, today_on, full=full,
        rows=rows, notify_at=notify_at, recipients_checked=recipients_checked,
    )  # fmt: skip


@task(name="collect-checks", persist_result=False)
def stored_checks_task(
    config: str, provider_ids: list[str], today_on: str
) -> dict[str, CheckSummary]:
    """The summaries of the checks the pool's provider-check runs stored (pool mode)."""
    return pipeline.stored_checks_step(config, provider_ids, today_on)


@task(name="overview", persist_result=False)
def overview_task(config: str, today_on: str, limit: int) -> Overview:
    """The most pressing stored deadlines across every provider (the operator tables)."""
    return pipeline.overview_step(config, today_on, limit=limit)


@task(name="evaluate", task_run_name="evaluate-{provider_id}", persist_result=False)
def evaluate_task(
    config: str,
    provider_id: str,
    today_on: str,
    *,
    store: bool = True,
    case_ref: str | None = None,
    explain: bool = False,
) -> EvaluationSummary:
    """Evaluate one provider's stored subjects and (unless store=False) keep the deadlines."""
    return pipeline.evaluate_step(
        config, provider_id, today_on, store=store, case_ref=case_ref, explain=explain
    )


@task(name="notify", persist_result=False)
def notify_task(
    config: str,
    now_at: str,
    dry_run: bool = False,
    provider_id: str | None = None,
    planned: dict[str, AlertPlanSummary] | None = None,
    *,
    release: bool = True,
) -> NotifySummary:
    """Deliver the alerts due now (one digest per recipient); dry_run sends nothing.
    ``planned``: the providers whose checks planned their alerts at ``now_at``;
    ``release``: free the checks' memory first (False when they ran in workers)."""
    return pipeline.notify_step(
        config, now_at, dry_run=dry_run, provider_id=provider_id, planned=planned,
        release=release,
    )  # fmt: skip


@task(name="report", task_run_name="report-{kind}", persist_result=False)
def report_task(config: str, today_on: str, kind: str) -> reporting.ReportSummary:
    """Build the compliance report from stored deadlines and write its HTML file."""
    return reporting.report_step(config, today_on, kind=kind)


@task(name="tell-operations", persist_result=False)
def outages_task(config: str, now_at: str, failed: dict[str, str], answering: list[str]) -> int:
    """Tell operations of provider outages: started, still on (daily), resolved."""
    return pipeline.outages_step(config, now_at, failed=failed, answering=answering)


@task(name="record-suppression", task_run_name="{kind}-{rule}", persist_result=False)
def suppress_task(
    config: str, kind: Kind, *, subject: str, rule: str, reason: str, until: str | None,
    by: str, provider_id: str | None, now_at: str,
) -> SuppressionSummary:  # fmt: skip
    """Record an acknowledgement or a silence (validated as the command line does)."""
    return suppressions.suppress_step(
        config, kind, subject=subject, rule=rule, reason=reason, until=until, by=by,
        provider_id=provider_id, now_at=now_at,
    )  # fmt: skip


@task(name="revoke-suppression", task_run_name="unsilence-{rule}", persist_result=False)
def unsilence_task(
    config: str, *, subject: str, rule: str, reason: str, by: str, now_at: str
) -> SuppressionSummary:
    """Revoke the acknowledgements and silences in force for a subject and rule."""
    return suppressions.unsilence_step(
        config, subject=subject, rule=rule, reason=reason, by=by, now_at=now_at
    )
