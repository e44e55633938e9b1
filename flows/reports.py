"""``daily-digest`` and ``weekly-report``: the compliance report, per office and rule.

    daily-digest:   evaluate-<id> for every provider (statuses move with the date)
                    -> report-daily -> notify (each recipient's digest)
    weekly-report:  report-weekly

Both write a self-contained HTML file under ``reports_dir`` and publish where it is.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State

from core.config import config_path
from core.process import tune_collector
from flows.artifacts import publish_deadlines, publish_notify, publish_report
from flows.compliance import helsinki_now
from flows.logs import vahti_logs
from flows.outcome import ended, error_of
from flows.tasks import evaluate_task, notify_task, report_task
from pipeline.steps import settings_from


@flow(
    name="daily-digest",
    persist_result=False,
)
def daily_digest(config: str | None = None, today: str | None = None) -> State[dict[str, object]]:
    """Refresh today's statuses from the stored data, write the daily report, notify.

    Args:
        config: the Vahti settings file (default: ``VAHTI_CONFIG``, else ``vahti.toml``).
        today: report date (ISO); default: today in Europe/Helsinki.
    """
    tune_collector()
    config = config_path(config)
    with vahti_logs():
        logger = get_run_logger()
        clock = helsinki_now()
        today_on = today or clock.date().isoformat()
        ids = [p.id for p in settings_from(config).providers]
        futures = {pid: evaluate_task.submit(config, pid, today_on) for pid in ids}
        for future in futures.values():
            future.wait()
        errors = {pid: error_of(f) for pid, f in futures.items()}
        evaluations = [f.result() for pid, f in futures.items() if errors[pid] is None]
        publish_deadlines(evaluations, key_prefix="daily")
        summary = report_task(config, today_on, "daily")
        publish_report(summary, key="daily-report")
        notified = notify_task(config, clock.isoformat())
        publish_notify(notified, key="daily-alerts")
        problems = [f"provider {pid!r}: evaluate {e}" for pid, e in errors.items() if e]
        if notified.failed:
            problems.append(
                f"notify: {notified.failed} alert item(s) in {notified.messages_failed} "
                "message(s) undelivered (kept pending)"
            )
        data: dict[str, object] = {
            "report": summary.path,
            "totals": summary.totals,
            "alerts": notified.to_json(),
        }
        if problems:
            logger.error("daily digest incomplete: %s", "; ".join(problems))
        return ended(data, problems, done=f"daily report {summary.path}")


@flow(name="weekly-report", persist_result=False)
def weekly_report(config: str | None = None, today: str | None = None) -> dict[str, object]:
    """Write the weekly compliance report (per office, per rule) from the stored deadlines.

    Args:
        config: the Vahti settings file (default: ``VAHTI_CONFIG``, else ``vahti.toml``).
        today: report date (ISO); default: today in Europe/Helsinki.
    """
    config = config_path(config)
    with vahti_logs():
        today_on = today or helsinki_now().date().isoformat()
        summary = report_task(config, today_on, "weekly")
        publish_report(summary, key="weekly-report")
        get_run_logger().info("weekly report written: %s", summary.path)
        return {"report": summary.path, "totals": summary.totals}
