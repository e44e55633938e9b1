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


@dataclass
class NotifyReport:
    """What one ``notify`` run did; ``to_json`` is the CLI's ``--format json``."""

    sent: int = 0  # alerts delivered in this run
    failed: int = 0  # alerts whose delivery failed in this run (kept for retry)
    suppressed: int = 0  # acknowledged or silenced items (listed in ``suppressed_items``)
    pending: int = 0  # undelivered ledger rows after the run + items held for the window
    held: int = 0  # non-urgent items outside the send window (sent in a later run)
    planned: int = 0  # ledger rows this run wrote (dry run: would write)
    cancelled: int = 0  # undelivered rows no longer justified (met, superseded, silenced)
    unroutable: int = 0  # due alerts with no recipient at all
    digests: int = 0
    operations_told: int = 0
    possible_duplicates: int = 0  # attempts interrupted after the receiver may have accepted
    dry_run: bool = False
    by_language: dict[str, int] = field(default_factory=dict)
    suppressed_items: list[dict[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_plan(self) -> AlertPlanSummary:
        """What a planning-only run (:func:`plan_provider`) did, as a check reports it."""
        return AlertPlanSummary(
            planned=self.planned,
            cancelled=self.cancelled,
            suppressed=self.suppressed,
            held=self.held,
            unroutable=self.unroutable,
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
            "digests": self.digests,
            "operations_told": self.operations_told,
            "possible_duplicates": self.possible_duplicates,
            "dry_run": self.dry_run,
            "suppressed_items": self.suppressed_items,
            "errors": self.errors,
        }
