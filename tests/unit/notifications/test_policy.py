"""The pure alerting policy: stages, dedup, inhibition, suppression, window, digest order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from models.ledger import LedgerEntry, Suppression
from notifications.policy import (
    PolicySettings,
    catching_up,
    dedup_key,
    in_send_window,
    ledger_keys,
    plan,
    warning_stage,
)
from rules.deadline import Deadline, ProviderDeadline, Status

TODAY = date(2026, 4, 7)  # a Tuesday
INSIDE = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # 12:00 in Helsinki
OUTSIDE = datetime(2026, 4, 7, 15, 0, tzinfo=UTC)  # 18:00 in Helsinki
SETTINGS = PolicySettings()


def weekdays(on: date) -> bool:
    return on.weekday() < 5


def dl(status: Status, days: int | None = None, **kw: object) -> ProviderDeadline:
    due = date.fromordinal(TODAY.toordinal() + days) if days is not None else None
    base: dict[str, object] = {
        "subject_kind": "case",
        "subject": "TK-1",
        "rule": "START-2W",
        "status": status,
        "due_on": due,
        "coach_id": "c1",
    }
    base.update(kw)
    return ProviderDeadline("p1", Deadline(**base))  # type: ignore[arg-type]


def run(
    *items: ProviderDeadline,
    ledger=None,
    sup=(),
    now=INSIDE,
    today=TODAY,
    settings=SETTINGS,
    catching_up=frozenset(),
):
    return plan(
        items,
        ledger=ledger or {},
        suppressions=sup,
        today=today,
        now=now,
        settings=settings,
        is_working_day=weekdays,
        catching_up=catching_up,
    )


@pytest.mark.parametrize(
    ("days_left", "stage"),
    [
        (10, None),
        (8, None),
        (7, "warn-7"),
        (5, "warn-7"),
        (4, "warn-7"),
        (3, "warn-3"),
        (2, "warn-3"),
        (1, "warn-1"),
        (0, "warn-1"),
        (-1, None),
    ],
)
def test_warning_stage_is_smallest_lead_at_or_above_days_left(days_left, stage):
    """The stage is the smallest lead >= days left; none beyond the largest or overdue."""
    assert warning_stage(days_left, (7, 3, 1)) == stage


def test_dedup_key_has_provider_subject_rule_due_and_stage():
    """The key is (provider, kind, subject, rule, due date, stage); no due date shows '-'."""
    assert dedup_key("p1", dl(Status.DUE_SOON, 3).deadline, "warn-3") == (
        "p1|case|TK-1|START-2W|2026-04-10|warn-3"
    )
    assert dedup_key("p1", dl(Status.BREACHED).deadline, "breach").endswith("|-|breach")


@pytest.mark.parametrize(
    ("item", "stage", "audience", "urgent"),
    [
        (dl(Status.DUE_SOON, 3), "warn-3", {"owner"}, False),
        (dl(Status.OPEN, 7), "warn-7", {"owner"}, False),
        (dl(Status.DUE_SOON, 1), "warn-1", {"owner"}, True),
        (dl(Status.DUE_SOON, 0), "warn-1", {"owner"}, True),
        (dl(Status.DUE_SOON, 3, escalate=True), "warn-3", {"owner", "quality"}, False),
        (dl(Status.BREACHED, -2), "breach", {"owner", "quality"}, True),
        (dl(Status.ADVISORY), "advisory", {"owner"}, False),
        (dl(Status.AT_RISK, 20), "at-risk", {"owner"}, False),
        (
            dl(Status.DUE_SOON, count=22, limit=25, rule="TV-MEETINGS-MAX"),
            "warn-count",
            {"owner"},
            False,
        ),
    ],
)
def test_stage_audience_and_urgency_per_status(item, stage, audience, urgent):
    """Each status gives its stage once, to its audience, urgent only when breached or near."""
    result = run(item)
    assert [(a.stage, set(a.audience), a.urgent) for a in result.due] == [(stage, audience, urgent)]


@pytest.mark.parametrize(
    "item",
    [
        dl(Status.OPEN, 30),
        dl(Status.OPEN),
        dl(Status.OPEN, count=3, limit=25),
        dl(Status.DUE_SOON, -1),
        dl(Status.OK),
        dl(Status.WAITING),
        dl(Status.NOT_APPLICABLE, 2),
        dl(Status.UNCONFIGURED),
        dl(Status.MET, 2),
        dl(Status.MET_LATE, -2),
    ],
)
def test_statuses_that_send_nothing(item):
    """Far away, counted below the warning count, final or inert statuses send nothing."""
    assert run(item).due == ()


def test_a_sent_stage_is_not_sent_again():
    """A dedup key already in the ledger is not planned again (re-runs send nothing new)."""
    item = dl(Status.DUE_SOON, 3)
    key = dedup_key("p1", item.deadline, "warn-3")
    result = run(item, ledger={key: LedgerEntry(open=False, created_on=TODAY)})
    assert result.due == ()
    assert key in result.wanted


def test_a_moved_due_date_starts_afresh():
    """An extension moves the due date: the same stage has a new key and is sent again."""
    old = dl(Status.DUE_SOON, 3)
    sent = {dedup_key("p1", old.deadline, "warn-3"): LedgerEntry(open=False, created_on=TODAY)}
    moved = dl(Status.DUE_SOON, 2)
    assert [a.stage for a in run(moved, ledger=sent).due] == ["warn-3"]


def test_a_delivered_breach_is_not_repeated_one_by_one():
    """Once its breach alert is delivered, a deadline says nothing more (the reminder does)."""
    item = dl(Status.BREACHED, -3)
    breach = dedup_key("p1", item.deadline, "breach")
    ledger = {breach: LedgerEntry(open=False, created_on=date(2026, 4, 6))}
    result = run(item, ledger=ledger)
    assert result.due == ()
    assert result.obsolete == ()
    assert [(a.stage, set(a.audience)) for a in run(item).due] == [("breach", {"owner", "quality"})]


def test_an_ended_cases_breach_sends_no_new_alert():
    """Decision 1: a breach kept on an ended case stays in reports and alerts nobody anew."""
    ended = ("event: START-2W not recorded", "the case ended on 2026-04-06, after the due date")
    item = dl(Status.BREACHED, -3, explanation=ended)
    assert run(item).due == ()
    assert [a.stage for a in run(dl(Status.BREACHED, -3)).due] == ["breach"]


def test_ledger_keys_name_every_key_the_plan_reads():
    """The keys to read from the ledger: each deadline's breach key and its stage's key."""
    warn = dl(Status.DUE_SOON, 3)
    met = dl(Status.MET, -1, subject="TK-2")
    quiet = dl(Status.OK, subject="TK-3")
    keys = ledger_keys([warn, met, quiet], today=TODAY, settings=SETTINGS)
    assert keys == {
        dedup_key("p1", warn.deadline, "breach"),
        dedup_key("p1", warn.deadline, "warn-3"),
        dedup_key("p1", met.deadline, "breach"),
        dedup_key("p1", met.deadline, "resolved"),
    }
    looked: list[str] = []

    class Spy(dict[str, LedgerEntry]):
        def get(self, key, default=None):  # type: ignore[override]
            looked.append(key)
            return super().get(key, default)

        def __contains__(self, key):  # type: ignore[override]
            looked.append(key)
            return super().__contains__(key)

    for entry in keys:  # whatever the ledger holds, plan() looks at no other key
        run(warn, met, quiet, ledger=Spy({entry: LedgerEntry(open=False, created_on=TODAY)}))
    assert looked
    assert set(looked) <= keys


def test_an_undelivered_breach_is_kept_not_repeated():
    """While the breach row is still open (failing), the breach stays wanted; no repeat yet."""
    item = dl(Status.BREACHED, -3)
    breach = dedup_key("p1", item.deadline, "breach")
    result = run(item, ledger={breach: LedgerEntry(open=True, created_on=date(2026, 4, 1))})
    assert result.due == ()
    assert result.obsolete == ()
    assert breach in result.wanted


def test_breach_supersedes_open_warnings():
    """A pending warning of a deadline that is now breached is obsolete (inhibited)."""
    item = dl(Status.BREACHED, -1)
    warning = dedup_key("p1", item.deadline, "warn-1")
    result = run(item, ledger={warning: LedgerEntry(open=True, created_on=TODAY)})
    assert [a.stage for a in result.due] == ["breach"]
    assert result.obsolete == (warning,)


def test_met_after_breach_sends_one_resolved_note_to_quality():
    """A breached deadline that becomes met late gets one resolved note; nothing else."""
    item = dl(Status.MET_LATE, -2)
    ledger = {dedup_key("p1", item.deadline, "breach"): LedgerEntry(False, TODAY)}
    result = run(item, ledger=ledger)
    assert [(a.stage, set(a.audience), a.urgent) for a in result.due] == [
        ("resolved", {"quality"}, False)
    ]
    assert run(item, ledger=ledger, settings=PolicySettings(resolved_note=False)).due == ()


def test_met_deadline_cancels_its_open_warning():
    """A met deadline sends nothing more and its undelivered warning becomes obsolete."""
    item = dl(Status.MET, 2)
    warning = dedup_key("p1", item.deadline, "warn-3")
    assert run(item, ledger={warning: LedgerEntry(True, TODAY)}).obsolete == (warning,)


@pytest.mark.parametrize(
    ("suppression", "quiet"),
    [
        (Suppression("ack", "TK-1", "START-2W", "on it", "laura"), True),
        (Suppression("silence", "TK-1", "START-2W", "known", "laura", date(2026, 4, 7)), True),
        (Suppression("silence", "TK-1", "START-2W", "known", "laura", date(2026, 4, 6)), False),
        (Suppression("ack", "TK-1", "START-2W", "x", "y", provider_id="p1"), True),
        (Suppression("ack", "TK-1", "START-2W", "x", "y", provider_id="p2"), False),
        (Suppression("ack", "TK-2", "START-2W", "x", "y"), False),
        (Suppression("ack", "TK-1", "FEEDBACK-DUE", "x", "y"), False),
    ],
)
def test_acknowledged_or_silenced_items_stay_quiet_and_are_listed(suppression, quiet):
    """An active matching ack/silence moves the alert to the suppressed list."""
    result = run(dl(Status.BREACHED, -1), sup=[suppression])
    assert (len(result.suppressed) == 1) is quiet
    assert (result.due == ()) is quiet
    if quiet:
        assert result.suppressed[0].suppression is suppression


def test_suppression_applies_checks_expiry_itself():
    """Suppression.applies is False after its until date even when passed directly."""
    s = Suppression("silence", "TK-1", "START-2W", "r", "b", until_on=date(2026, 4, 1))
    assert not s.applies(dl(Status.BREACHED, -1), TODAY)


def test_non_urgent_items_wait_for_the_send_window_urgent_go_at_once():
    """Outside the window warnings are held (not lost); breaches and due-tomorrow go now."""
    result = run(
        dl(Status.DUE_SOON, 3),
        dl(Status.BREACHED, -1, subject="TK-2"),
        dl(Status.DUE_SOON, 1, subject="TK-3"),
        now=OUTSIDE,
    )
    assert [a.deadline.subject for a in result.due] == ["TK-2", "TK-3"]
    assert [a.deadline.subject for a in result.held] == ["TK-1"]


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (datetime(2026, 4, 7, 4, 59, tzinfo=UTC), False),  # 07:59 Helsinki
        (datetime(2026, 4, 7, 5, 0, tzinfo=UTC), True),  # 08:00
        (datetime(2026, 4, 7, 12, 59, tzinfo=UTC), True),  # 15:59
        (datetime(2026, 4, 7, 13, 0, tzinfo=UTC), False),  # 16:00
        (datetime(2026, 4, 11, 9, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_send_window_is_working_days_08_to_16_helsinki(now, inside):
    """The window is [08:00, 16:00) Europe/Helsinki on working days."""
    assert in_send_window(now, SETTINGS, weekdays) is inside


def test_custom_window_times():
    """A configured window is honoured."""
    late = PolicySettings(send_window_start=time(18, 0), send_window_end=time(20, 0))
    assert in_send_window(OUTSIDE, late, weekdays)


def test_digest_order_urgent_first_then_nearest_due():
    """Due alerts are ordered urgent first, then by days left, then by key."""
    result = run(
        dl(Status.DUE_SOON, 7, subject="A"),
        dl(Status.ADVISORY, subject="B"),
        dl(Status.DUE_SOON, 3, subject="C"),
        dl(Status.BREACHED, -5, subject="D"),
        dl(Status.DUE_SOON, 0, subject="E"),
    )
    assert [a.deadline.subject for a in result.due] == ["D", "E", "C", "A", "B"]


@pytest.mark.parametrize(
    ("seen_before", "outage_since", "expected"),
    [
        (False, None, True),  # the provider's first check
        (True, None, False),  # an ordinary check
        (True, datetime(2026, 4, 6, 8, 0, tzinfo=UTC), True),  # answering again after an outage
        (False, datetime(2026, 4, 6, 8, 0, tzinfo=UTC), True),
    ],
)
def test_a_provider_catches_up_on_its_first_check_and_after_an_outage(
    seen_before, outage_since, expected
):
    """First check or first check after an outage: the backlog policy applies."""
    assert catching_up(seen_before=seen_before, outage_since=outage_since) is expected


@pytest.mark.parametrize(
    ("item", "behind", "where"),
    [
        (dl(Status.BREACHED, -15), True, "backlog"),  # older than 14 days: summarised
        (dl(Status.BREACHED, -14), True, "due"),  # 14 days: still news
        (dl(Status.BREACHED, -2), True, "due"),  # a recent breach: alerted as usual
        (dl(Status.BREACHED, None), True, "due"),  # no date at all: alerted as usual
        (dl(Status.BREACHED, None, details=("2026-03-01: 4 h",)), True, "backlog"),  # per item
        (dl(Status.BREACHED, None, details=("2026-03-01: 4 h", "2026-04-01: 4 h")), True, "due"),
        (dl(Status.BREACHED, -40), False, "due"),  # not catching up: alerted as usual
        (dl(Status.DUE_SOON, 1), True, "due"),  # warnings are never backlog
        (dl(Status.AT_RISK, 5), True, "due"),
    ],
)
def test_old_breaches_of_a_catching_up_provider_go_to_the_backlog(item, behind, where):
    """Only breaches older than backlog_age_days of a catching-up provider are summarised."""
    result = run(item, catching_up={"p1"} if behind else set())
    got = {"due": result.due, "backlog": result.backlog}
    assert [a.stage for a in got[where]]
    assert not got["backlog" if where == "due" else "due"]
    assert not result.held
    assert not result.obsolete


def test_the_backlog_age_is_a_setting():
    """backlog_age_days moves the line between news and backlog."""
    strict = PolicySettings(backlog_age_days=0)
    result = run(dl(Status.BREACHED, -1), catching_up={"p1"}, settings=strict)
    assert [a.stage for a in result.backlog] == ["breach"]
    assert not result.due


def test_backlog_keys_are_wanted_and_a_settled_one_is_never_planned_again():
    """A backlog breach counts as wanted; once in the ledger it is neither sent nor cancelled."""
    item = dl(Status.BREACHED, -30)
    first = run(item, catching_up={"p1"})
    key = dedup_key("p1", item.deadline, "breach")
    assert key in first.wanted
    settled = {key: LedgerEntry(open=False, created_on=TODAY)}
    later = run(item, ledger=settled)
    assert (later.due, later.backlog, later.obsolete) == ((), (), ())
    met = run(dl(Status.MET_LATE, -30), ledger=settled)
    assert [a.stage for a in met.due] == ["resolved"]


def test_a_silenced_old_breach_stays_suppressed_not_backlog():
    """Suppression wins over the backlog: a silenced breach is listed as suppressed."""
    silence = Suppression("silence", "TK-1", "START-2W", "known", "lv", until_on=TODAY)
    result = run(dl(Status.BREACHED, -30), sup=[silence], catching_up={"p1"})
    assert len(result.suppressed) == 1
    assert not result.backlog


def test_with_a_backlog_a_recent_breach_goes_to_its_owner_only():
    """With a backlog a recent breach is the coach's; escalated, or without one, as usual."""
    old = dl(Status.BREACHED, -30, subject="TK-9")
    (plain,) = run(dl(Status.BREACHED, -2), old, catching_up={"p1"}).due
    (escalated,) = run(dl(Status.BREACHED, -2, escalate=True), old, catching_up={"p1"}).due
    (no_backlog,) = run(dl(Status.BREACHED, -2), catching_up={"p1"}).due
    assert plain.audience == {"owner"}
    assert plain.urgent
    assert escalated.audience == no_backlog.audience == {"owner", "quality"}
