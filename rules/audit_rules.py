"""Audit rules (quality staff): Kela's report, the provider's response, corrections.

AUDIT-REPORT-EXPECTED (visit + 14 d, rolled: chase Kela when late), AUDIT-RESPONSE-4W
(visit + 28 d, rolled), AUDIT-MAJOR-NOW (each major finding corrected on the day the
report arrives) and AUDIT-MINOR-BY-RESPONSE (each minor finding corrected by the
response due date). Suggestions and strengths carry no deadline.

Escalation (rules.md decision 5): AUDIT-RESPONSE-4W when the audit has a major finding
and the response is late or missing past its due date; AUDIT-MAJOR-NOW when the finding
is uncorrected, or was corrected, strictly after the response due date; always for a
safety-related major finding.
"""

from __future__ import annotations

from datetime import date, timedelta

from contract.payloads import AuditPayload
from rules.deadline import BREACH_STATUSES, Deadline, Status, SubjectKind
from rules.explain import Env, build
from rules.pack import RulePack


def _timed(
    env: Env,
    pack: RulePack,
    *,
    kind: SubjectKind,
    subject: str,
    rule: str,
    key: str,
    trigger: tuple[str, date | None],
    event: tuple[str, date | None],
    office_id: str | None,
    roll: bool,
    escalate: bool = False,
    extra: tuple[str, ...] = (),
) -> Deadline:
    trigger_name, trigger_on = trigger
    event_name, event_on = event
    if trigger_on is None:
        return build(
            env,
            subject_kind=kind,
            subject=subject,
            rule=rule,
            status=Status.WAITING,
            pack=pack,
            keys=(key,),
            office_id=office_id,
            escalate=escalate,
            explanation=[*extra, f"waiting: {trigger_name} not known yet"],
        )
    days = pack.days(key)
    due_on = trigger_on + timedelta(days=days)
    lines = [
        *extra,
        f"trigger: {trigger_name} {trigger_on}",
        f"base period: {days} days -> {due_on}",
    ]
    if roll:
        rolled = env.calendar.roll(due_on)
        lines.append(f"roll: {rolled.describe()}")
        due_on = rolled.on
    else:
        lines.append("no roll")
    lines.append(f"event: {event_name} {event_on or 'not yet recorded'}")
    return build(
        env,
        subject_kind=kind,
        subject=subject,
        rule=rule,
        status=env.timed_status(due_on, event_on),
        pack=pack,
        keys=(key,),
        due_on=due_on,
        event_on=event_on,
        office_id=office_id,
        escalate=escalate,
        explanation=lines,
    )


def evaluate_audit(audit: AuditPayload, env: Env) -> list[Deadline]:
    """Every audit and finding deadline of one audit."""
    pack = env.pack_on(audit.visit_on)
    office_id = audit.office_id
    report = _timed(
        env,
        pack,
        kind="audit",
        subject=audit.audit_id,
        rule="AUDIT-REPORT-EXPECTED",
        key="AUDIT-REPORT-EXPECTED.days",
        trigger=("visit_on", audit.visit_on),
        event=("report_received_on", audit.report_received_on),
        office_id=office_id,
        roll=True,
    )
    response = _timed(
        env,
        pack,
        kind="audit",
        subject=audit.audit_id,
        rule="AUDIT-RESPONSE-4W",
        key="AUDIT-RESPONSE-4W.days",
        trigger=("visit_on", audit.visit_on),
        event=("response_sent_on", audit.response_sent_on),
        office_id=office_id,
        roll=True,
    )
    response_due = response.due_on
    assert response_due is not None  # the response deadline always has a trigger
    if response.status in BREACH_STATUSES and any(f.severity == "major" for f in audit.findings):
        response = response._replace(
            escalate=True,
            explanation=(
                "escalate: a major finding and the response is late or missing",
                *response.explanation,
            ),
        )
    deadlines = [report, response]
    for finding in audit.findings:
        subject = f"{audit.audit_id}/{finding.finding_id}"
        corrected = ("corrected_on", finding.corrected_on)
        if finding.severity == "major":
            extra: tuple[str, ...] = ()
            if finding.safety_related:
                extra = ("safety-related: escalate to Kela's contracting unit",)
            past = (finding.corrected_on or env.today) > response_due
            if past:
                state = "uncorrected" if finding.corrected_on is None else "corrected"
                extra = (
                    *extra,
                    f"escalate: major finding {state} after the response due date {response_due}",
                )
            deadlines.append(
                _timed(
                    env,
                    pack,
                    kind="finding",
                    subject=subject,
                    rule="AUDIT-MAJOR-NOW",
                    key="AUDIT-MAJOR-NOW.days",
                    trigger=("report_received_on", audit.report_received_on),
                    event=corrected,
                    office_id=office_id,
                    roll=False,
                    escalate=finding.safety_related or past,
                    extra=extra,
                )
            )
        elif finding.severity == "minor":
            due_on = response_due
            lines = [
                f"trigger: AUDIT-RESPONSE-4W due {due_on}",
                f"event: corrected_on {finding.corrected_on or 'not yet recorded'}",
            ]
            deadlines.append(
                build(
                    env,
                    subject_kind="finding",
                    subject=subject,
                    rule="AUDIT-MINOR-BY-RESPONSE",
                    status=env.timed_status(due_on, finding.corrected_on),
                    pack=pack,
                    keys=("AUDIT-RESPONSE-4W.days",),
                    due_on=due_on,
                    event_on=finding.corrected_on,
                    office_id=office_id,
                    explanation=lines,
                )
            )
    return deadlines
