"""What a notification run did, and what one provider's alert planning did: counts only."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AlertPlanSummary:
    """The alerts one provider's check planned and wrote ahead (the run's notify sends them)."""

    planned: int = 0  # ledger rows written
    cancelled: int = 0  # undelivered rows no longer justified
    suppressed: int = 0  # acknowledged or silenced items
    held: int = 0  # non-urgent items outside the send window (planned by a later run)
    unroutable: int = 0  # due alerts with no recipient at all
    backlog: int = 0  # old breaches told in a backlog summary (docs/alerts.md), not one by one


@dataclass
class NotifyReport:
    """What one ``notify`` run did; ``to_json`` is the CLI's ``--format json``."""

    sent: int = 0  # alert items delivered in this run
    failed: int = 0  # alert items whose delivery failed in this run (kept for retry)
    suppressed: int = 0  # acknowledged or silenced items (listed in ``suppressed_items``)
    pending: int = 0  # undelivered ledger rows after the run + items held for the window
    held: int = 0  # non-urgent items outside the send window (sent in a later run)
    planned: int = 0  # ledger rows this run wrote (dry run: would write)
    cancelled: int = 0  # undelivered rows no longer justified (met, superseded, silenced)
    unroutable: int = 0  # due alerts with no recipient at all
    backlog: int = 0  # old breaches told in a backlog summary, not one by one
    digests: int = 0  # messages attempted (one digest per recipient URL and run)
    messages_sent: int = 0  # messages delivered: what a mailbox counts
    messages_failed: int = 0
    operations_told: int = 0
    possible_duplicates: int = 0  # attempts interrupted after the receiver may have accepted
    dry_run: bool = False
    by_language: dict[str, int] = field(default_factory=dict)  # items sent per language
    by_provider: dict[str, list[int]] = field(default_factory=dict)  # items [sent, failed]
    suppressed_items: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count_items(self, provider_ids: list[str], *, ok: bool) -> None:
        """Count one message's items per provider, sent or failed."""
        for provider_id in provider_ids:
            pair = self.by_provider.setdefault(provider_id, [0, 0])
            pair[0 if ok else 1] += 1

    def as_plan(self) -> AlertPlanSummary:
        """What a planning-only run (:func:`plan_provider`) did, as a check reports it."""
        return AlertPlanSummary(
            planned=self.planned,
            cancelled=self.cancelled,
            suppressed=self.suppressed,
            held=self.held,
            unroutable=self.unroutable,
            backlog=self.backlog,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "pending": self.pending,
            "by_language": dict(sorted(self.by_language.items())),
            "held": self.held,
            "planned": self.planned,
            "cancelled": self.cancelled,
            "unroutable": self.unroutable,
            "backlog": self.backlog,
            "digests": self.digests,
            "messages_sent": self.messages_sent,
            "messages_failed": self.messages_failed,
            "by_provider": {k: list(v) for k, v in sorted(self.by_provider.items())},
            "operations_told": self.operations_told,
            "possible_duplicates": self.possible_duplicates,
            "dry_run": self.dry_run,
            "suppressed_items": self.suppressed_items,
            "errors": self.errors,
        }
