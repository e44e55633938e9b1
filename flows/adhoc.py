"""``adhoc-check``: one provider (optionally one case) now, or on a what-if date.

    dry run (default):  evaluate-<id> (nothing stored)  ->  notify (dry run: nothing sent)
    real run:           check-<id>  ->  [evaluate-<id>, shown only]  ->  notify (this provider)

A dry run computes and shows: the deadlines with their explanations land in a
markdown artifact and in the return value; nothing is written to the deadline history
or the alert ledger and nothing is sent. A what-if ``today`` is only allowed in a dry
run (a real run on another day would write a false history).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, time

from prefect import flow, get_run_logger

from core.config import config_path
from core.errors import InputError
from core.process import tune_collector
from flows.artifacts import publish_explanations, publish_notify, publish_provisional
from flows.compliance import HELSINKI, helsinki_now, refresh_store_statistics
from flows.logs import vahti_logs
from flows.tasks import check_task, evaluate_task, notify_task


@flow(name="adhoc-check", persist_result=False)
def adhoc_check(
    provider: str,
    *,
    case_ref: str | None = None,
    today: str | None = None,
    dry_run: bool = True,
    explain: bool = True,
    config: str | None = None,
) -> dict[str, object]:
    """Check one provider or one case on demand.

    Args:
        provider: the provider id, as in the settings file.
        case_ref: limit the shown deadlines to this case reference.
        today: a what-if evaluation date (ISO); dry runs only; default: today.
        dry_run: compute and show, store and send nothing (default true).
        explain: include each deadline's full explanation in the artifact.
        config: the Vahti settings file (default: ``VAHTI_CONFIG``, else ``vahti.toml``).
    """
    tune_collector()
    config = config_path(config)
    with vahti_logs():
        logger = get_run_logger()
        clock = helsinki_now()
        if today is not None and not dry_run and today != clock.date().isoformat():
            raise InputError(
                f"today={today!r} is a what-if date: use it with dry_run=true "
                "(a real run always evaluates the current day)"
            )
        today_on = today or clock.date().isoformat()
        now_at = (
            clock
            if today is None
            else datetime.combine(datetime.fromisoformat(today_on).date(), time(9, 0), HELSINKI)
        )
        if dry_run or case_ref is not None:  # a real run stores first, then shows the case
            if not dry_run:
                check_task(config, provider, today_on)
            evaluation = evaluate_task(
                config, provider, today_on, store=False, case_ref=case_ref, explain=explain
            )
        else:
            evaluation = check_task(config, provider, today_on, rows=True).evaluation
        if not dry_run:  # a new provider's first check writes as much as a national run's share
            refresh_store_statistics(config)
        notified = notify_task(config, now_at.isoformat(), dry_run=dry_run, provider_id=provider)
        rows = evaluation.selected if case_ref else (*evaluation.breached, *evaluation.due_soon)
        mode = "dry run, nothing stored or sent" if dry_run else "stored and delivered"
        title = f"Ad-hoc check {provider} {case_ref or '(all cases)'} on {today_on} ({mode})"
        publish_explanations(rows, title=title, key="adhoc-deadlines")
        publish_notify(notified, key="adhoc-alerts")
        publish_provisional(evaluation.provisional, key_prefix="adhoc")
        logger.info("%s: %s; alerts %s", title, evaluation.by_status, notified.to_json())
        return {
            "provider": provider,
            "case_ref": case_ref,
            "today": today_on,
            "dry_run": dry_run,
            "deadlines": [asdict(row) for row in rows],
            "by_status": evaluation.by_status,
            "alerts": notified.to_json(),
        }
