"""What operators see of a run: its final state, its logs, its artifacts, its alerts to
operations (the Prefect test harness, the reference provider, SQLite and SMTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.flow_engine import run_flow
from prefect.logging.handlers import APILogWorker
from prefect.logging.loggers import flow_run_logger

from core.errors import IncompleteRunError
from flows.compliance import compliance_check
from flows.reports import weekly_report
from tests.flows.conftest import NOW, TODAY, Site

pytestmark = pytest.mark.slow


def _log_lines(flow_run_id: object) -> list[str]:
    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [log.message for log in logs]


def _as_deployed(flow: Any, parameters: dict[str, object]) -> tuple[object, BaseException | None]:
    """Run ``flow`` the way a deployment's process does (the engine logs how the run
    ended into the run's logs); the flow run id and what the engine raised."""
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow, parameters=parameters)
    try:
        run_flow(flow, flow_run=flow_run, error_logger=flow_run_logger(flow_run=flow_run))
    except Exception as error:
        return flow_run.id, error
    return flow_run.id, None


def test_an_expected_failure_ends_failed_without_a_traceback(
    make_site: Callable[..., Site],
) -> None:
    """A provider answering 401: Failed, its message names the provider, no traceback or
    TypeError anywhere in the run's logs, the counts kept on the raised error."""
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_BAD_TOKEN"})
    params = {"config": str(site.config), "today": TODAY.isoformat(), "now": NOW}
    flow_run_id, raised = _as_deployed(compliance_check, params)
    assert isinstance(raised, IncompleteRunError)
    assert "provider 'beta'" in str(raised)
    assert raised.data["ok"] is False
    lines = _log_lines(flow_run_id)
    assert lines
    assert not [line for line in lines if "Traceback" in line or "TypeError" in line]
    assert any(line.startswith("run ended Failed: provider 'beta'") for line in lines)
    assert any("HTTP 401" in line for line in lines)  # the task's own failure, one line
    to_ops = [m for m in site.messages() if "ops@example.invalid" in str(m["To"])]
    assert len(to_ops) == 1  # operations told at the first failed check
    body = "".join(
        str(part.get_payload(decode=True), "utf-8")
        for part in to_ops[0].walk()
        if part.get_content_type() == "text/plain"
    )
    assert "provider 'beta' failing since" in body
    assert "PermanentProviderError" in body


def _artifacts(flow_run_id: object) -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found if a.key}


def _table(artifact: Any) -> list[dict[str, Any]]:
    data = artifact.data
    return list(json.loads(data) if isinstance(data, str) else data)


def test_artifacts_show_what_is_breached_now_newest_first(make_site: Callable[..., Site]) -> None:
    """Breached holds breached deadlines only, the most recent first, with the true total;
    met-late has its own table; the summary is narrow; the run's logs say what was sent."""
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_TOKEN"})
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message
    outcome = state.result()
    found = _artifacts(state.state_details.flow_run_id)
    assert {"compliance-statuses", "compliance-met-late"} <= set(found)
    breached = _table(found["compliance-breached"])
    dues = [row["due"] for row in breached if row["due"] != "-"]
    assert len(dues) > 10
    assert dues == sorted(dues, reverse=True)
    assert breached[0]["due"] != "-"  # undated rows (recorded violations) come last
    assert all(row["days"] < 0 for row in breached if row["due"] != "-")
    total = sum(p["breached"] for p in outcome["providers"])
    assert f"{total} in all" in (found["compliance-breached"].description or "")
    met_late = _table(found["compliance-met-late"])
    assert met_late
    assert met_late[0]["subject"] != "none"
    assert not {(r["provider"], r["subject"], r["rule"]) for r in met_late} & {
        (r["provider"], r["subject"], r["rule"]) for r in breached
    }
    summary = _table(found["compliance-summary"])
    assert list(summary[0]) == [
        "provider", "state", "fetched", "rejected", "breached", "due soon",
        "items sent/failed", "error",
    ]  # fmt: skip
    statuses = _table(found["compliance-statuses"])
    assert {row["provider"] for row in statuses} == {"alpha", "beta"}
    lines = _log_lines(state.state_details.flow_run_id)
    sent = [line for line in lines if "item(s) in one message" in line]
    assert any(line.startswith("quality:quality mailto://") and "sent" in line for line in sent)
    assert not any("example.invalid" in line for line in sent)  # the address is masked
    assert sum(1 for line in lines if line.startswith("provider 'alpha': ")) == 1


def test_the_report_counts_what_the_run_summary_counts(make_site: Callable[..., Site]) -> None:
    """Breached now and met late, the same numbers in the weekly report and the run."""
    site = make_site({"alpha": "FLOW_TEST_TOKEN", "beta": "FLOW_TEST_TOKEN"})
    state = compliance_check(
        config=str(site.config), today=TODAY.isoformat(), now=NOW, return_state=True
    )
    assert state.is_completed(), state.message
    providers = state.result()["providers"]
    report = weekly_report(config=str(site.config), today=TODAY.isoformat())
    totals = report["totals"]
    assert totals["breached"] == sum(p["breached"] for p in providers) > 0
    assert totals["met_late"] == sum(p["met_late"] for p in providers) > 0
