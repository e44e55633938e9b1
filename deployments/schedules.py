"""The deployment table shared by ``serve`` (one machine) and documented in prefect.yaml.

Names, schedules (Europe/Helsinki) and default parameters in one place. A test checks
that prefect.yaml says the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TIMEZONE = "Europe/Helsinki"


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    name: str
    flow: str  # "module:function"
    cron: str | None
    description: str
    parameters: dict[str, object] = field(default_factory=dict)
    concurrency_limit: int | None = 1  # None: runs may overlap (the shards of one check)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec(
        "hourly",
        "flows.compliance:compliance_check",
        "0 7-17 * * 1-5",
        "Sync every provider, evaluate and store deadlines, deliver alerts.",
        {"full_sync": False},
    ),
    DeploymentSpec(
        "daily",
        "flows.reports:daily_digest",
        "30 7 * * 1-5",
        "Refresh today's statuses, write the daily report, send each recipient's digest.",
    ),
    DeploymentSpec(
        "weekly",
        "flows.reports:weekly_report",
        "0 7 * * 1",
        "Write the weekly compliance report per office and rule.",
    ),
    DeploymentSpec(
        "watchdog",
        "flows.watchdog:watchdog",
        "45 8-17 * * 1-5",
        "Alert operations when no compliance-check completed in the expected interval.",
        {"max_age_minutes": 90},
    ),
    DeploymentSpec(
        "adhoc",
        "flows.adhoc:adhoc_check",
        None,
        "One provider or one case on demand; dry run by default (nothing stored or sent).",
        {"dry_run": True, "explain": True},
    ),
    DeploymentSpec(
        "acknowledge",
        "flows.suppressions:acknowledge",
        None,
        "Acknowledge an alert (who, why, until a date or met); listed in the weekly report.",
    ),
    DeploymentSpec(
        "silence",
        "flows.suppressions:silence",
        None,
        "Silence an alert until a date (who, why); listed in the weekly report.",
    ),
    DeploymentSpec(
        "unsilence",
        "flows.suppressions:unsilence",
        None,
        "End an alert's acknowledgement or silence early (who, why): it alerts again.",
    ),
    DeploymentSpec(
        "provider-check",
        "flows.provider_check:provider_check",
        None,
        "One shard of a compliance-check's providers (started by it in pool mode).",
        concurrency_limit=None,
    ),
)
