"""What a compliance check ended with: per provider, then delivery; honest about failures.

Built from the task futures after they finish. ``ok`` is true only when every provider
synced and was evaluated and no alert failed: the flow ends Failed otherwise, with
:meth:`CheckOutcome.problems` as its message.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prefect.client.schemas.objects import State
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed

from core.errors import IncompleteRunError
from notifications.counts import AlertPlanSummary
from notifications.safe_text import plain
from pipeline.summaries import (
    EvaluationSummary,
    NotifySummary,
    Overview,
    SyncSummary,
)

#: Characters of one failure's text (a provider's own error text may be long) in a problem.
PROBLEM_CHARS = 300


@dataclass(frozen=True, slots=True)
class ProviderOutcome:
    provider_id: str
    sync: SyncSummary | None = None
    evaluation: EvaluationSummary | None = None
    error: str | None = None  # what failed, in one line (no secrets: errors are masked)
    alerts: AlertPlanSummary | None = None  # planned in the check (None: by notify)

    @property
    def ok(self) -> bool:
        return self.error is None and self.evaluation is not None


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    today_on: str
    providers: tuple[ProviderOutcome, ...]
    notify: NotifySummary | None = None
    notify_error: str | None = None
    overview: Overview | None = None  # the most pressing rows across providers
    operations_error: str | None = None  # operations could not be told of an outage
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        delivered = self.notify is not None and self.notify.failed == 0
        told = self.operations_error is None
        return (
            delivered and told and self.notify_error is None and all(p.ok for p in self.providers)
        )

    def problems(self) -> list[str]:
        """One line per problem: failed providers, then delivery."""
        lines = [
            f"provider {p.provider_id!r}: {plain(p.error or 'failed', PROBLEM_CHARS, links=True)}"
            for p in self.providers
            if not p.ok
        ]
        if self.notify_error is not None:
            lines.append(f"notify: {plain(self.notify_error, PROBLEM_CHARS, links=True)}")
        elif self.notify is not None and self.notify.failed:
            n = self.notify
            lines.append(
                f"notify: {n.failed} alert item(s) in {n.messages_failed} message(s) "
                "undelivered (kept pending)"
            )
        if self.operations_error is not None:
            lines.append(f"operations not told of an outage: {self.operations_error}")
        return lines

    def deadlines_by_status(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for p in self.providers:
            if p.evaluation is not None:
                total.update(p.evaluation.by_status)
        return dict(sorted(total.items()))

    def summary_rows(self) -> list[dict[str, object]]:
        """The per-provider summary: narrow columns an operator reads at a glance (the
        status breakdown is :meth:`status_rows`)."""
        sent_by = self.notify.by_provider if self.notify else {}
        rows: list[dict[str, object]] = []
        for p in self.providers:
            sync, ev = p.sync, p.evaluation
            sent, failed = sent_by.get(p.provider_id, (0, 0))
            rows.append(
                {
                    "provider": p.provider_id,
                    "state": "ok" if p.ok else "FAILED",
                    "fetched": sync.fetched if sync else 0,
                    "rejected": sync.rejected if sync else 0,
                    "breached": ev.breached_total if ev else 0,
                    "due soon": ev.due_soon_total if ev else 0,
                    "items sent/failed": f"{sent}/{failed}",
                    "error": short_error(
                        plain(p.error, PROBLEM_CHARS, links=True) if p.error else None
                    ),
                }
            )
        return rows

    def status_rows(self) -> list[dict[str, object]]:
        """Deadlines per provider and status (one column a status that occurs)."""
        statuses = sorted(
            {s for p in self.providers if p.evaluation for s in p.evaluation.by_status}
        )
        rows: list[dict[str, object]] = []
        for p in self.providers:
            counts = p.evaluation.by_status if p.evaluation else {}
            rows.append({"provider": p.provider_id, **{s: counts.get(s, 0) for s in statuses}})
        return rows

    def to_json(self) -> dict[str, object]:
        """The demo's and the flow's return shape (counts only)."""
        return {
            "today": self.today_on,
            "ok": self.ok,
            "providers": [
                {
                    "id": p.provider_id,
                    "fetched": p.sync.fetched if p.sync else 0,
                    "stored": p.sync.stored if p.sync else 0,
                    "rejected": p.sync.rejected if p.sync else 0,
                    "deadlines": dict(p.evaluation.by_status) if p.evaluation else {},
                    "breached": p.evaluation.breached_total if p.evaluation else 0,
                    "met_late": p.evaluation.met_late_total if p.evaluation else 0,
                    "alerts_planned": p.alerts.planned if p.alerts else None,  # None: by notify
                    "error": p.error,
                }
                for p in self.providers
            ],
            "deadlines": self.deadlines_by_status(),
            "alerts": self.notify.to_json() if self.notify else None,
            "problems": self.problems(),
            **self.extra,
        }


def short_error(error: str | None, limit: int = 48) -> str:
    """An error as a table cell: its class and HTTP status (the whole line is in the
    artifact's description and the run's logs)."""
    if not error:
        return ""
    kind = re.search(r"\b(\w+Error)\b", error)
    status = re.search(r"HTTP \d{3}", error)
    short = ", ".join(m.group(0) for m in (kind, status) if m) or error
    return short if len(short) <= limit else short[: limit - 1] + "…"


def error_of(future: PrefectFuture[Any]) -> str | None:
    """The one-line reason a finished task future did not complete, or None."""
    state: State[Any] = future.state
    if state.is_completed():
        return None
    if state.is_pending() or state.name == "NotReady":
        return "skipped: an upstream step failed"
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        return f"{type(result).__name__}: {result}"
    return state.message or state.name or "failed"


def ended(data: dict[str, object], problems: list[str], *, done: str) -> State[dict[str, object]]:
    """Completed with ``data``, or Failed naming every problem: its data a
    :class:`IncompleteRunError` carrying ``data`` (Prefect resolves a Failed state's data into
    an exception; a dict there ends the run with a TypeError instead)."""
    if not problems:
        return Completed(data=data, message=done)
    message = "; ".join(problems)
    return Failed(data=IncompleteRunError(message, data=data), message=message)


def run_data(state: State[Any]) -> dict[str, object] | None:
    """What a finished run returned, Completed or Failed (None: it crashed or raised)."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, IncompleteRunError):
        return result.data
    return result if isinstance(result, dict) else None
