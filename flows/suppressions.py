"""``acknowledge``, ``silence`` and ``unsilence``: quality staff quieten an alert from the
Prefect UI (a parameter form per deployment) as ``vahti ack``/``vahti silence`` do.

    acknowledge:  record-suppression (ack: until a date or until the deadline is met)
    silence:      record-suppression (silence: until a date, required)
    unsilence:    revoke-suppression (what is in force for the subject and rule)

Each is recorded with who ran it: the flow run's creator where Prefect knows the person
(Prefect Cloud records the user who started a run), otherwise the ``by`` parameter, which
is then required. A refused request (no reason, a date in the past, a silence without a
date, nobody named) ends the run Failed with one line saying why, without a traceback.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext

from core.config import config_path
from flows.compliance import helsinki_now
from flows.logs import vahti_logs
from flows.outcome import ended, error_of
from flows.tasks import suppress_task, unsilence_task
from pipeline.suppressions import Kind


def run_creator() -> str | None:
    """The person who started this flow run, when Prefect recorded one (a user, not a
    schedule, deployment or automation)."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    creator = run.created_by if run is not None else None
    if creator is None or (creator.type or "").upper() != "USER":
        return None
    return creator.display_value or None


def _who(by: str | None) -> str:
    creator = run_creator()
    if creator and by and by.strip() and by.strip() != creator:
        return f"{creator} (for {by.strip()})"
    return creator or (by or "")


def _suppress(
    kind: Kind, *, config: str | None, subject: str, rule: str, reason: str, until: date | None,
    by: str | None, provider: str | None,
) -> State[dict[str, object]]:  # fmt: skip
    with vahti_logs():
        now_at = helsinki_now().isoformat()
        until_at = until.isoformat() if until else None
        done = suppress_task.submit(
            config_path(config), kind, subject=subject, rule=rule, reason=reason, until=until_at,
            by=_who(by), provider_id=provider, now_at=now_at,
        )  # fmt: skip
        done.wait()
        error = error_of(done)
        if error is not None:
            get_run_logger().error("%s refused: %s", kind, error)
            return ended({}, [f"{kind} refused: {error}"], done="")
        summary = done.result()
        return ended(summary.to_json(), [], done=f"{kind} of {subject} {rule} by {summary.by}")


@flow(name="acknowledge", persist_result=False)
def acknowledge(  # noqa: PLR0917 - Prefect's form: one field per parameter
    subject: str,
    rule: str,
    reason: str,
    until: date | None = None,
    by: str | None = None,
    provider: str | None = None,
    config: str | None = None,
) -> State[dict[str, object]]:
    """Acknowledge an alert: no warnings or breach reminders for it until a date or met.

    Args:
        subject: the case reference, audit id or coach id the alert is about.
        rule: the rule id as the alert names it, e.g. START-2W.
        reason: why (recorded and shown in the weekly report).
        until: quiet until this date (inclusive); empty: until the deadline is met.
        by: who asks; required unless Prefect knows who started this run.
        provider: only this provider's subject; empty: every provider.
        config: path of the Vahti TOML settings file (default: VAHTI_CONFIG, else vahti.toml).
    """
    return _suppress(
        "ack", config=config, subject=subject, rule=rule, reason=reason, until=until, by=by,
        provider=provider,
    )  # fmt: skip


@flow(name="silence", persist_result=False)
def silence(  # noqa: PLR0917 - Prefect's form: one field per parameter
    subject: str,
    rule: str,
    reason: str,
    until: date,
    by: str | None = None,
    provider: str | None = None,
    config: str | None = None,
) -> State[dict[str, object]]:
    """Silence an alert until a date; it stays listed in the reports.

    Args:
        subject: the case reference, audit id or coach id the alert is about.
        rule: the rule id as the alert names it, e.g. START-2W.
        reason: why (recorded and shown in the weekly report).
        until: quiet until this date (inclusive; required, not in the past).
        by: who asks; required unless Prefect knows who started this run.
        provider: only this provider's subject; empty: every provider.
        config: path of the Vahti TOML settings file (default: VAHTI_CONFIG, else vahti.toml).
    """
    return _suppress(
        "silence", config=config, subject=subject, rule=rule, reason=reason, until=until,
        by=by, provider=provider,
    )  # fmt: skip


@flow(name="unsilence", persist_result=False)
def unsilence(
    subject: str,
    rule: str,
    reason: str,
    by: str | None = None,
    config: str | None = None,
) -> State[dict[str, object]]:
    """End the acknowledgements and silences in force for an alert: it alerts again.

    Args:
        subject: the case reference, audit id or coach id the alert is about.
        rule: the rule id, e.g. START-2W.
        reason: why it should alert again (recorded and shown in the weekly report).
        by: who asks; required unless Prefect knows who started this run.
        config: path of the Vahti TOML settings file (default: VAHTI_CONFIG, else vahti.toml).
    """
    with vahti_logs():
        now_at = helsinki_now().isoformat()
        done = unsilence_task.submit(
            config_path(config),
            subject=subject,
            rule=rule,
            reason=reason,
            by=_who(by),
            now_at=now_at,
        )
        done.wait()
        error = error_of(done)
        if error is not None:
            get_run_logger().error("unsilence refused: %s", error)
            return ended({}, [f"unsilence refused: {error}"], done="")
        summary = done.result()
        return ended(summary.to_json(), [], done=f"{summary.changed} revoked for {subject} {rule}")
