"""Notifications plan from what changed, exactly as a full plan would; one daily reminder.

The reference in the equivalence test is the pure policy run over every current
deadline and the whole ledger (what each run did before): on every day of a changing
history the incremental notifier must write and cancel exactly the same alerts.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import create_engine, func, select

from contract.payloads import CasePayload
from core.config import Settings
from models import ledger
from models.alerting import Alert, DeadlineRecord
from models.candidates import breached_refs, plan_candidates
from models.db import session_scope, shared_engine
from models.deadlines import load_current_deadlines, prepare_deadlines, store_deadlines
from models.ledger import OPERATIONS_RULES, REMINDER_RULE, LedgerEntry
from models.store import ensure_provider, store_cases
from notifications.policy import plan, planned_when_stored
from notifications.service import notify
from notifications.write_ahead import plan_provider, policy_settings
from rules.calendar import FinnishCalendar
from rules.deadline import ACTIONABLE_STATUSES, Deadline, Status

MONDAY = date(2026, 4, 13)  # an ordinary week (6 April 2026 is Easter Monday)


def at(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock in Helsinki (UTC+3 in April) as an aware UTC time."""
    return datetime.combine(day, time(hour - 3), tzinfo=UTC)


def settings_for(url: str, smtp_sink, **alerts: object) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "recipients": {
                "coaches": {
                    "p1": {"c1": {"urls": [smtp_sink.url("c1@example.org")], "language": "fi"}}
                },
                "quality": [
                    {"urls": [smtp_sink.url("quality@example.org")], "language": "en", "name": "lv"}
                ],
                "operations": [
                    {"urls": [smtp_sink.url("ops@example.org")], "language": "en", "name": "ops"}
                ],
            },
            "alerts": alerts,
        }
    )


def dl(subject: str, status: Status, due_on: date | None, rule: str = "START-2W") -> Deadline:
    return Deadline(
        subject_kind="case",
        subject=subject,
        rule=rule,
        status=status,
        due_on=due_on,
        coach_id="c1",
        office_id="o1",
        explanation=("trigger: decision_received_on 2026-03-20",),
    )


def store(url: str, deadlines: list[Deadline], day: date, provider_id: str = "p1") -> None:
    with session_scope(shared_engine(url)) as session:
        store_deadlines(
            session=session,
            provider_id=provider_id,
            deadlines=deadlines,
            evaluated_on=day,
            retire_missing=True,
            planned=planned_when_stored,
        )


def ledger_rows(url: str) -> list[Alert]:
    with session_scope(shared_engine(url)) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_a_breach_is_alerted_once_then_reminded_daily_as_one_summary(sqlite_url, smtp_sink):
    """Day 1: the breach; later working days: one reminder to quality, none on Saturday."""
    settings = settings_for(sqlite_url, smtp_sink, backlog_age_days=60)  # no backlog here
    breaches = [dl(f"TK-{n}", Status.BREACHED, MONDAY - timedelta(days=n)) for n in range(1, 41)]
    store(sqlite_url, breaches, MONDAY)
    first = notify(settings, now=at(MONDAY))
    assert first.sent == 80  # 40 breaches, each to the coach and to quality
    assert not [r for r in ledger_rows(sqlite_url) if r.rule == REMINDER_RULE]

    smtp_sink.clear()
    tuesday = MONDAY + timedelta(days=1)
    second = notify(settings, now=at(tuesday))
    assert (second.sent, second.planned) == (1, 1)  # one reminder, no repeat per breach
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ("quality@example.org",)
    body = mail.text()
    assert "40 deadlines are still breached (1 provider, 1 office)" in body
    assert "Longest overdue" in body
    assert "TK-40" in body  # the most overdue is listed by reference
    assert "still breached 40" in str(mail.message["Subject"])

    again = notify(settings, now=at(tuesday, 14))
    assert (again.sent, again.planned) == (0, 0)  # once a day

    saturday = MONDAY + timedelta(days=5)
    assert notify(settings, now=at(saturday)).planned == 0
    assert len(ledger_rows(sqlite_url)) == 80 + 1


def test_the_reminder_leaves_out_acknowledged_and_todays_breaches(sqlite_url, smtp_sink):
    """Acked breaches are quiet; a breach alerted today is not reminded of the same day."""
    settings = settings_for(sqlite_url, smtp_sink)
    store(
        sqlite_url,
        [dl("TK-1", Status.BREACHED, MONDAY), dl("TK-2", Status.BREACHED, MONDAY)],
        MONDAY,
    )
    notify(settings, now=at(MONDAY))
    tuesday = MONDAY + timedelta(days=1)
    with session_scope(shared_engine(sqlite_url)) as session:
        ledger.add_suppression(
            session=session,
            kind="ack",
            subject="TK-2",
            rule="START-2W",
            reason="Kela informed",
            by="quality",
            until_on=None,
            now=at(tuesday),
        )
    new = dl("TK-3", Status.BREACHED, tuesday - timedelta(days=1))
    store(
        sqlite_url,
        [dl("TK-1", Status.BREACHED, MONDAY), dl("TK-2", Status.BREACHED, MONDAY), new],
        tuesday,
    )
    smtp_sink.clear()
    notify(settings, now=at(tuesday))
    (reminder,) = [r for r in ledger_rows(sqlite_url) if r.rule == REMINDER_RULE]
    assert json.loads(reminder.item)["reminder"]["total"] == 1  # TK-1 only
    quality = [m for m in smtp_sink.messages if m.rcpt_tos == ("quality@example.org",)]
    assert len(quality) == 1  # TK-3's breach and the reminder in one digest
    assert "TK-3" in quality[0].text()


def test_the_reminder_leaves_out_breaches_of_ended_cases(sqlite_url, smtp_sink):
    """Decision 1: an ended case's breach stays stored but is not reminded of daily."""
    settings = settings_for(sqlite_url, smtp_sink)
    engine = shared_engine(sqlite_url)
    with session_scope(engine) as session:
        ensure_provider(session=session, provider_id="p1", name="p1", now=at(MONDAY))
        items = [
            (case_payload(ref, ended_on), {"case_ref": ref})
            for ref, ended_on in (("TK-1", MONDAY - timedelta(days=1)), ("TK-2", None))
        ]
        store_cases(session=session, provider_id="p1", items=items, received_at=at(MONDAY))
    store(
        sqlite_url,
        [
            dl("TK-1", Status.BREACHED, MONDAY - timedelta(days=3)),
            dl("TK-2", Status.BREACHED, MONDAY),
        ],
        MONDAY,
    )
    notify(settings, now=at(MONDAY))
    tuesday = MONDAY + timedelta(days=1)
    with session_scope(engine) as session:
        refs = breached_refs(session=session, before=tuesday)
    assert [ref.subject for ref in refs] == ["TK-2"]


def case_payload(ref: str, ended_on: date | None) -> CasePayload:
    return CasePayload.model_validate(
        {
            "case_ref": ref,
            "service": "work_trial",
            "office_id": "o1",
            "coach_id": "c1",
            "decision_received_on": "2026-03-20",
            "first_contact_on": "2026-03-23",
            "first_meeting_on": "2026-03-25",
            "ended_on": ended_on,
            "end_reason": "interrupted" if ended_on else None,
            "updated_at": "2026-04-13T08:00:00+03:00",
        }
    )


def test_reminders_follow_the_setting_and_replace_undelivered_ones(sqlite_url, smtp_sink):
    """breach_repeat=false sends none; an undelivered reminder is cancelled by the next one."""
    store(sqlite_url, [dl("TK-1", Status.BREACHED, MONDAY)], MONDAY)
    settings = settings_for(sqlite_url, smtp_sink)
    notify(settings, now=at(MONDAY))
    off = settings_for(sqlite_url, smtp_sink, breach_repeat=False)
    assert notify(off, now=at(MONDAY + timedelta(days=1))).planned == 0

    smtp_sink.mode = "fail"  # quality's mail server is down on Wednesday
    wednesday = notify(settings, now=at(MONDAY + timedelta(days=2)))
    smtp_sink.mode = "accept"
    assert wednesday.failed == 1
    thursday = notify(settings, now=at(MONDAY + timedelta(days=3)))
    assert thursday.cancelled == 1  # Wednesday's reminder, replaced by Thursday's
    assert thursday.sent == 1
    stages = {r.stage: r.status for r in ledger_rows(sqlite_url) if r.rule == REMINDER_RULE}
    assert stages == {"breach-repeat-2026-04-15": "cancelled", "breach-repeat-2026-04-16": "sent"}


def test_planned_rows_are_not_read_again_until_they_can_alert(database_url, smtp_sink):
    """Only rows that can alert are read; a far deadline is read again when it nears."""
    settings = settings_for(database_url, smtp_sink)
    far = [dl(f"TK-{n}", Status.OPEN, MONDAY + timedelta(days=20 + n)) for n in range(200)]
    near = [dl("TV-1", Status.DUE_SOON, MONDAY + timedelta(days=3))]
    store(database_url, far + near, MONDAY)
    policy = policy_settings(settings.alerts)

    def candidates(day: date) -> set[str]:
        with session_scope(shared_engine(database_url)) as session:
            found = plan_candidates(
                session=session, provider_id=None, today=day, window_days=max(policy.lead_days)
            )
        return {item.deadline.subject for item in found.values()}

    assert candidates(MONDAY) == {"TV-1"}  # the far ones cannot alert today: not even read
    notify(settings, now=at(MONDAY))
    assert candidates(MONDAY + timedelta(days=1)) == {"TV-1"}
    with session_scope(shared_engine(database_url)) as session:
        unplanned = session.scalar(
            select(func.count()).select_from(DeadlineRecord).where(~DeadlineRecord.planned)
        )
    assert unplanned == 0
    day = MONDAY + timedelta(days=14)  # a Monday; TK-0 is due on day 20: 6 days left
    assert "TK-0" in candidates(day)
    smtp_sink.clear()
    notify(settings, now=at(day))
    sent = {(r.subject, r.stage) for r in ledger_rows(database_url) if r.created_on == day}
    assert ("TK-0", "warn-7") in sent


def _full_ledger(url: str) -> dict[str, LedgerEntry]:
    """Every deadline key in the ledger (what the reference plan reads)."""
    open_statuses = {"pending", "sending", "failed"}
    entries: dict[str, LedgerEntry] = {}
    for row in ledger_rows(url):
        if row.rule in {REMINDER_RULE, "DELIVERY-FAILED", "SYNC-FAILED"}:
            continue
        before = entries.get(row.dedup_key)
        is_open = row.status in open_statuses or (before is not None and before.open)
        first = min(row.created_on, before.created_on) if before else row.created_on
        entries[row.dedup_key] = LedgerEntry(open=is_open, created_on=first)
    return entries


def _history(rng: random.Random, days: int) -> list[list[Deadline]]:
    """Every day's current deadlines of a changing provider (statuses, dates, new, gone)."""
    statuses = [Status.OPEN, Status.DUE_SOON, Status.BREACHED, Status.MET, Status.AT_RISK]
    statuses += [Status.ADVISORY, Status.MET_LATE, Status.OK, Status.WAITING]

    def drawn(today: date, *, soonest: int = -5) -> tuple[Status, date]:
        return rng.choice(statuses), today + timedelta(days=rng.randint(soonest, 25))

    state = {f"C-{n}": drawn(MONDAY) for n in range(150)}
    out = []
    for day in range(days):
        today = MONDAY + timedelta(days=day)
        for ref in rng.sample(sorted(state), 15):  # a tenth changes each day; the rest age
            roll = rng.random()
            if roll < 0.1:
                del state[ref]
            elif roll < 0.55:  # the status moves, the due date stays (e.g. breached -> met)
                state[ref] = (rng.choice(statuses), state[ref][1])
            else:
                state[ref] = drawn(today)
        for n in range(3):
            state[f"N-{day}-{n}"] = drawn(today, soonest=0)
        out.append([dl(ref, status, due_on) for ref, (status, due_on) in state.items()])
    return out


def test_incremental_plans_equal_full_plans_over_a_changing_history(database_url, smtp_sink):
    """Day after day (window open or not, weekends, failing deliveries, acks) the same
    alerts as a full plan over every current deadline and the whole ledger."""
    rng = random.Random(20261201)
    settings = settings_for(database_url, smtp_sink, breach_repeat=False)
    policy = policy_settings(settings.alerts)
    calendar = FinnishCalendar()
    engine = shared_engine(database_url)
    stages: set[str] = set()
    for day_index, deadlines in enumerate(_history(rng, 16)):
        day = MONDAY + timedelta(days=day_index)
        store(database_url, deadlines, day)
        if day_index in {3, 8}:  # an ack until met, and a silence for three days
            with session_scope(engine) as session:
                ledger.add_suppression(
                    session=session,
                    kind="ack" if day_index == 3 else "silence",
                    subject=rng.choice(deadlines).subject,
                    rule="START-2W",
                    reason="handled with Kela",
                    by="quality",
                    until_on=None if day_index == 3 else day + timedelta(days=3),
                    now=at(day),
                )
        now = at(day, hour=rng.choice([7, 10, 17]))
        with session_scope(engine) as session:
            current = load_current_deadlines(session=session, statuses=ACTIONABLE_STATUSES)
            suppressions = ledger.active_suppressions(session=session, today=day)
        reference = plan(
            current,
            ledger=_full_ledger(database_url),
            suppressions=suppressions,
            today=day,
            now=now,
            settings=policy,
            is_working_day=calendar.is_working_day,
        )
        before = {(r.dedup_key, r.target_key): r.status for r in ledger_rows(database_url)}
        smtp_sink.mode = "fail" if rng.random() < 0.3 else "accept"  # some days mail is down
        report = notify(settings, now=now)
        after = ledger_rows(database_url)
        written = {
            r.dedup_key
            for r in after
            if (r.dedup_key, r.target_key) not in before and r.rule not in OPERATIONS_RULES
        }
        cancelled = {
            r.dedup_key
            for r in after
            if r.status == "cancelled" and before.get((r.dedup_key, r.target_key)) != "cancelled"
        }
        assert written == {a.key for a in reference.due}, day
        stages.update(key.rsplit("|", 1)[1].split("-")[0] for key in written)
        assert cancelled == set(reference.obsolete), day
        assert report.held == len(reference.held), day
        assert report.suppressed == len(reference.suppressed), day
    assert {"warn", "breach", "resolved", "at", "advisory"} <= stages  # every kind was exercised


def test_deadlines_made_ready_ahead_store_the_rows_plain_ones_store(database_url, smtp_sink):
    """Rows fingerprinted and bound before the transaction (for another driver, too) are
    the rows storing the deadlines themselves writes; a met row that replaces a breached
    one stays unplanned (the plan looks its breach alert up), a met row never breached
    does not."""
    settings = settings_for(database_url, smtp_sink)
    engine = shared_engine(database_url)
    past = MONDAY - timedelta(days=3)
    for pid in ("p1", "p2"):
        store(database_url, [dl("TK-1", Status.BREACHED, past)], MONDAY, provider_id=pid)
    notify(settings, now=at(MONDAY))
    assert {(r.provider_id, r.stage) for r in ledger_rows(database_url)} >= {
        ("p1", "breach"),
        ("p2", "breach"),
    }
    day = MONDAY + timedelta(days=1)
    latest = [
        dl("TK-1", Status.MET, past),
        dl("TK-2", Status.MET, past),
        dl("TK-3", Status.OPEN, day + timedelta(days=30)),
    ]
    sqlite = create_engine("sqlite://").dialect  # SQLite's binding, whatever the database
    ready = prepare_deadlines(latest, sqlite, planned=planned_when_stored)
    with session_scope(engine) as session:
        result = store_deadlines(
            session=session, provider_id="p1", deadlines=ready, evaluated_on=day
        )
    assert (result.new, result.changed, result.unchanged) == (2, 1, 0)
    store(database_url, latest, day, provider_id="p2")

    def current(pid: str) -> dict[str, tuple[object, ...]]:
        with session_scope(engine) as session:
            rows = session.scalars(
                select(DeadlineRecord).where(
                    DeadlineRecord.provider_id == pid, DeadlineRecord.is_current
                )
            )
            return {
                r.subject: (r.status, r.due_on, r.explanation, r.fingerprint, r.planned)
                for r in rows
            }

    assert current("p1") == current("p2")
    planned = {subject: row[-1] for subject, row in current("p1").items()}
    assert planned == {"TK-1": False, "TK-2": True, "TK-3": True}


def test_alerts_planned_in_each_check_equal_one_notify_over_a_changing_history(
    database_url, tmp_path, smtp_sink
):
    """The compliance check's way (each provider planned in its check, one of them left to
    notify as a failed check is, then notify with ``planned``) writes, cancels, reminds
    and sends exactly what one notify over everything does, day after day."""
    rng = random.Random(20261202)
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    providers = ("p1", "p2", "p3")
    histories = {p: _history(random.Random(f"{p}-{rng.random()}"), 10) for p in providers}
    configured = [
        {"id": p, "base_url": f"https://{p}.example.invalid", "token_env": "VAHTI_TEST_TOKEN"}
        for p in providers
    ]

    def configure(url: str) -> Settings:
        base = settings_for(url, smtp_sink, breach_repeat=True)
        return Settings.model_validate({**base.model_dump(), "providers": configured})

    reference, split = configure(reference_url), configure(database_url)
    seen_reminders = 0
    for day_index in range(10):
        day = MONDAY + timedelta(days=day_index)
        for url in (reference_url, database_url):
            for p in providers:
                store(url, histories[p][day_index], day, provider_id=p)
            if day_index == 4:  # a silence on one provider's deadlines for three days
                with session_scope(shared_engine(url)) as session:
                    ledger.add_suppression(
                        session=session,
                        kind="silence",
                        subject=histories["p2"][day_index][0].subject,
                        rule="START-2W",
                        reason="handled with Kela",
                        by="quality",
                        until_on=day + timedelta(days=3),
                        now=at(day),
                    )
        now = at(day, hour=rng.choice([7, 10, 17]))
        mode = "fail" if rng.random() < 0.3 else "accept"
        smtp_sink.mode = mode
        whole = notify(reference, now=now)
        failed_check = rng.choice(providers)  # its check failed: notify plans it
        planned = {}
        for p in providers:
            if p != failed_check:
                done = plan_provider(split, now=now, provider_id=p)
                assert done.sent == 0  # planning sends nothing
                planned[p] = done.as_plan()
        smtp_sink.mode = mode
        parts = notify(split, now=now, planned=planned)
        assert _ledger_state(database_url) == _ledger_state(reference_url), day
        for name in ("sent", "failed", "suppressed", "held", "planned", "cancelled", "pending"):
            assert getattr(parts, name) == getattr(whole, name), (day, name)
        seen_reminders += sum(1 for r in ledger_rows(database_url) if r.rule == REMINDER_RULE)
    assert seen_reminders  # the day's reminder was exercised


def _ledger_state(url: str) -> set[tuple[object, ...]]:
    """The ledger as what it says: keys, targets, statuses and the items' contents."""
    return {
        (r.dedup_key, r.target_key, r.status, r.attempts, json.dumps(json.loads(r.item)))
        for r in ledger_rows(url)
    }


def test_a_check_plans_without_apprise_when_the_flow_checked_the_recipients(
    sqlite_url, smtp_sink
) -> None:
    """``recipients_checked`` (the compliance flow validated them before its checks) skips the
    per-process validation, so a worker plans its provider's alerts without loading Apprise;
    without it the validation loads Apprise. A fresh process, so the imports are its own."""
    day = date(2026, 4, 14)
    store(sqlite_url, [dl("TK-1", Status.BREACHED, day - timedelta(days=2))], day)
    settings = settings_for(sqlite_url, smtp_sink)
    code = (
        "import json, sys; from datetime import datetime; "
        "from notifications.write_ahead import plan_provider; from core.config import Settings; "
        "s = Settings.model_validate(json.loads(sys.argv[1])); "
        "now = datetime.fromisoformat(sys.argv[2]); "
        "done = plan_provider(s, now=now, provider_id='p1', recipients_checked=True); "
        "print(done.planned, 'apprise' in sys.modules); "
        "plan_provider(s, now=now, provider_id='p1'); print('apprise' in sys.modules)"
    )
    argv = [json.dumps(settings.model_dump(mode="json")), at(day).isoformat()]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False", "True"]  # a coach and quality staff
