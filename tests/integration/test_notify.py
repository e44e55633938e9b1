"""notify end to end: stored deadlines → ledger → real SMTP (aiosmtpd) and json:// webhooks."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, date, datetime, timedelta

import apprise
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from core.config import Settings
from core.errors import InputError
from models import ledger
from models.alerting import Alert, DeliveryAttempt
from models.db import make_engine, session_scope
from models.deadlines import deadline_history, load_current_deadlines, store_deadlines
from models.schema import upgrade
from notifications.apprise_loader import load_plugins
from notifications.dispatch import notify_operations
from notifications.service import notify
from reference.mail import MaildirSink
from rules.deadline import Deadline, Status
from vahti.cli import app

TODAY = date(2026, 4, 7)  # Tuesday
NOW = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # 12:00 Europe/Helsinki
TOKEN = "HookTok3nV3rySecret"
IDENTITY_CODE = "010190-123m"


def settings_for(url: str, smtp_sink, webhook, **alerts: object) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "recipients": {
                "coaches": {
                    "p1": {
                        "c1": {"urls": [smtp_sink.url("c1@example.org")], "language": "fi"},
                        "c2": {"urls": [webhook.url("coach/${HOOK_TOKEN}")], "language": "sv"},
                    }
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


def d(subject: str, rule: str, status: Status, days: int | None, **kw: object) -> Deadline:
    due = TODAY + timedelta(days=days) if days is not None else None
    base: dict[str, object] = {
        "subject_kind": "case",
        "subject": subject,
        "rule": rule,
        "status": status,
        "due_on": due,
        "days_left": days,
        "coach_id": "c1",
        "link": f"https://provider.example/cases/{subject}",
        "explanation": (f"trigger 2026-03-24 + 14 d, client {IDENTITY_CODE}", "second line"),
    }
    base.update(kw)
    return Deadline(**base)  # type: ignore[arg-type]


DEADLINES = [
    d("TK-1", "START-2W", Status.DUE_SOON, 3),
    d("TK-2", "WORKPLACE-1M", Status.BREACHED, -2),
    d("TV-3", "FEEDBACK-DUE", Status.DUE_SOON, 7, coach_id="c2"),
    d(
        "AUD-1",
        "AUDIT-RESPONSE-4W",
        Status.DUE_SOON,
        1,
        subject_kind="audit",
        coach_id=None,
        link=None,
    ),
    d("TK-4", "START-2W", Status.MET, 5),
]


def migrate(url: str):
    """An engine on a migrated database (upgrade through the engine, disposed by the caller)."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


def seed(url: str, deadlines=DEADLINES) -> None:
    engine = migrate(url)
    with session_scope(engine) as session:
        store_deadlines(session=session, provider_id="p1", deadlines=deadlines, evaluated_on=TODAY)
    engine.dispose()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)


def alerts(url: str) -> list[Alert]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Alert).order_by(Alert.id)))
    engine.dispose()
    return rows


def attempts(url: str) -> list[DeliveryAttempt]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))
    engine.dispose()
    return rows


def by_rcpt(smtp_sink) -> dict[str, list]:
    found: dict[str, list] = {}
    for m in smtp_sink.messages:
        for r in m.rcpt_tos:
            found.setdefault(r, []).append(m)
    return found


def test_digests_in_three_languages_reach_real_receivers_once(
    database_url, smtp_sink, webhook, env
):
    """One digest per recipient, right language and order, no secrets or personal data; a
    re-run sends nothing new."""
    seed(database_url)
    settings = settings_for(database_url, smtp_sink, webhook)
    report = notify(settings, now=NOW)
    assert report.failed == 0
    # c1: TK-1 warn-3 + TK-2 breach; c2: TV-3 warn-7; quality: TK-2 breach + AUD-1 warn-1
    assert report.sent == 5
    assert report.by_language == {"en": 2, "fi": 2, "sv": 1}
    mails = by_rcpt(smtp_sink)
    assert sorted(mails) == ["c1@example.org", "quality@example.org"]
    assert [len(v) for v in mails.values()] == [1, 1]
    coach = mails["c1@example.org"][0]
    assert coach.message["Subject"].startswith("[!] Vahti: 2 määräaikaa")
    body = coach.text()
    assert "Kiireelliset" in body
    assert "su 5.4.2026" in body  # TK-2 was due on Sunday
    assert body.index("TK-2") < body.index("TK-1")
    assert "TK-4" not in body
    quality = mails["quality@example.org"][0].text()
    assert "Urgent" in quality
    assert "Provider response within 4 weeks" in quality
    assert len(webhook.received) == 1
    post = webhook.received[0]
    assert post["path"] == f"/coach/{TOKEN}"
    assert "Påminnelse" in json.dumps(post["json"], ensure_ascii=False)
    everything = [m.raw.decode("utf-8", "replace") for m in smtp_sink.messages]
    everything += [json.dumps(p["json"]) for p in webhook.received]
    everything += [a.target_label + (a.last_error or "") + a.item for a in alerts(database_url)]
    everything += [t.log + t.target_label + t.services for t in attempts(database_url)]
    for text in everything:
        assert TOKEN not in text
        assert IDENTITY_CODE.lower() not in text.lower()
    rows = alerts(database_url)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.attempts == 1 for r in rows)
    assert {a.status for a in attempts(database_url)} == {"sent"}

    again = notify(settings, now=NOW + timedelta(hours=1))
    assert (again.sent, again.planned, again.failed) == (0, 0, 0)
    assert len(smtp_sink.messages) == 2
    assert len(webhook.received) == 1


def test_dry_run_writes_and_sends_nothing(sqlite_url, smtp_sink, webhook, env):
    """A dry run plans the alerts but neither writes the ledger nor sends."""
    seed(sqlite_url)
    report = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW, dry_run=True)
    assert report.planned == 5
    assert report.sent == 0
    assert alerts(sqlite_url) == []
    assert smtp_sink.messages == []


def test_failing_receiver_keeps_alerts_pending_then_retries_and_tells_operations(
    sqlite_url, smtp_sink, webhook, env
):
    """A 500 keeps the webhook's alerts failed (pending), backoff holds them, operations
    hear after repeated failures, and a later run delivers them exactly once."""
    seed(sqlite_url)
    settings = settings_for(
        sqlite_url, smtp_sink, webhook, retry_base_minutes=10, max_attempts_before_operations=2
    )
    webhook.mode = "fail"
    first = notify(settings, now=NOW)
    assert first.failed == 1
    assert first.pending == 1
    failed = [a for a in alerts(sqlite_url) if a.status == "failed"]
    assert [(a.subject, a.attempts) for a in failed] == [("TV-3", 1)]
    assert failed[0].next_attempt_at == NOW + timedelta(minutes=10)
    assert TOKEN not in (failed[0].last_error or "")

    early = notify(settings, now=NOW + timedelta(minutes=5))  # inside the backoff
    assert (early.sent, early.failed) == (0, 0)

    second = notify(settings, now=NOW + timedelta(minutes=11))
    assert second.failed == 1
    assert second.operations_told == 1
    ops = by_rcpt(smtp_sink)["ops@example.org"]
    assert len(ops) == 1
    assert "Alert delivery failed repeatedly" in ops[0].text()
    assert TOKEN not in ops[0].raw.decode()

    webhook.mode = "ok"
    third = notify(settings, now=NOW + timedelta(minutes=40))
    assert third.sent == 1
    assert third.pending == 0
    assert len(webhook.received) == 1
    assert notify(settings, now=NOW + timedelta(hours=2)).sent == 0
    assert len(webhook.received) == 1
    assert len(by_rcpt(smtp_sink)["ops@example.org"]) == 1


def test_hanging_receiver_is_a_failure(sqlite_url, smtp_sink, webhook, env):
    """A receiver that does not answer within Apprise's timeout counts as a failure."""
    seed(sqlite_url, [d("TV-3", "FEEDBACK-DUE", Status.DUE_SOON, 7, coach_id="c2")])
    webhook.mode = "hang"
    webhook.hang_seconds = 2.5
    report = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW)
    assert (report.sent, report.failed) == (0, 1)
    assert [a.status for a in alerts(sqlite_url)] == ["failed"]


class CrashError(Exception):
    """Simulated process death inside delivery."""


def test_crash_mid_batch_is_completed_by_next_run_without_duplicates(
    database_url, smtp_sink, webhook, env
):
    """A run dying after its first digest leaves the rest pending; the next run sends only
    those: every receiver gets exactly one digest."""
    seed(database_url)
    settings = settings_for(database_url, smtp_sink, webhook)
    recorded: list[str] = []

    def die_after_first(event: str, key: str) -> None:
        if event == "recorded":
            recorded.append(key)
            raise CrashError(key)

    with pytest.raises(CrashError):
        notify(settings, now=NOW, hook=die_after_first)
    assert len(smtp_sink.messages) + len(webhook.received) == 1
    statuses = sorted(a.status for a in alerts(database_url))
    assert statuses.count("pending") >= 1
    report = notify(settings, now=NOW + timedelta(minutes=1))
    assert report.failed == 0
    assert report.possible_duplicates == 0
    assert {a.status for a in alerts(database_url)} == {"sent"}
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == [
        "c1@example.org",
        "quality@example.org",
    ]
    assert len(webhook.received) == 1


def test_crash_after_acceptance_resends_once_after_the_lease_and_is_counted(
    sqlite_url, smtp_sink, webhook, env
):
    """Dying after the receiver accepted but before the ledger said so: nothing is resent
    while the claim lease runs; after it, one duplicate, visible as an attempt in 'sending'."""
    seed(sqlite_url, [d("TV-3", "FEEDBACK-DUE", Status.DUE_SOON, 7, coach_id="c2")])
    settings = settings_for(sqlite_url, smtp_sink, webhook, claim_lease_minutes=15)

    def die_before_record(event: str, key: str) -> None:
        if event == "delivered":
            raise CrashError(key)

    with pytest.raises(CrashError):
        notify(settings, now=NOW, hook=die_before_record)
    assert len(webhook.received) == 1
    assert [a.status for a in alerts(sqlite_url)] == ["sending"]
    inside_lease = notify(settings, now=NOW + timedelta(minutes=5))
    assert inside_lease.sent == 0
    assert len(webhook.received) == 1
    after = notify(settings, now=NOW + timedelta(minutes=20))
    assert after.sent == 1
    assert after.possible_duplicates == 1
    assert len(webhook.received) == 2  # the one duplicate the guarantee allows
    assert [t.status for t in attempts(sqlite_url)] == ["sending", "sent"]


def test_ack_and_silence_keep_items_quiet_and_listed(database_url, smtp_sink, webhook, env):
    """An acknowledged breach and a silenced warning are not sent and are reported."""
    seed(database_url)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        ledger.add_suppression(
            session=session,
            kind="ack",
            subject="TK-2",
            rule="WORKPLACE-1M",
            reason="Kela informed",
            by="laura",
            until_on=None,
            now=NOW,
        )
        ledger.add_suppression(
            session=session,
            kind="silence",
            subject="TV-3",
            rule="FEEDBACK-DUE",
            reason="known",
            by="laura",
            until_on=date(2026, 4, 10),
            now=NOW,
        )
    engine.dispose()
    report = notify(settings_for(database_url, smtp_sink, webhook), now=NOW)
    assert report.suppressed == 2
    assert {s["kind"] for s in report.suppressed_items} == {"ack", "silence"}
    assert {a.subject for a in alerts(database_url)} == {"TK-1", "AUD-1"}
    assert webhook.received == []


def test_non_urgent_items_wait_for_the_window(sqlite_url, smtp_sink, webhook, env):
    """At 18:00 only urgent items go; the held warnings go in the next run inside the window."""
    seed(sqlite_url)
    settings = settings_for(sqlite_url, smtp_sink, webhook)
    evening = datetime(2026, 4, 7, 15, 0, tzinfo=UTC)
    report = notify(settings, now=evening)
    assert report.held == 2  # TK-1 warn-3 and TV-3 warn-7
    assert {a.subject for a in alerts(sqlite_url)} == {"TK-2", "AUD-1"}
    morning = datetime(2026, 4, 8, 6, 0, tzinfo=UTC)  # Wed 09:00 Helsinki
    later = notify(settings, now=morning)
    assert later.held == 0
    assert {a.subject for a in alerts(sqlite_url)} >= {"TK-1", "TV-3"}


def test_store_deadlines_keeps_history_and_skips_unchanged(database_url):
    """A changed due date or status is a new row (old one not current); unchanged is kept."""
    engine = migrate(database_url)
    first = [d("TK-1", "START-2W", Status.DUE_SOON, 3), d("TK-2", "START-2W", Status.OPEN, 20)]
    with session_scope(engine) as session:
        r1 = store_deadlines(session=session, provider_id="p1", deadlines=first, evaluated_on=TODAY)
    assert (r1.new, r1.changed, r1.unchanged) == (2, 0, 0)
    second = [d("TK-1", "START-2W", Status.DUE_SOON, 10), d("TK-2", "START-2W", Status.OPEN, 20)]
    with session_scope(engine) as session:
        r2 = store_deadlines(
            session=session,
            provider_id="p1",
            deadlines=second,
            evaluated_on=TODAY + timedelta(days=1),
        )
    assert (r2.new, r2.changed, r2.unchanged) == (0, 1, 1)
    with session_scope(engine) as session:
        r3 = store_deadlines(
            session=session,
            provider_id="p1",
            deadlines=second[:1],
            evaluated_on=TODAY,
            retire_missing=True,
        )
        history = deadline_history(
            session=session, provider_id="p1", subject="TK-1", rule="START-2W"
        )
        current = load_current_deadlines(session=session, provider_id="p1")
    assert (r3.unchanged, r3.retired) == (1, 1)
    assert [(h.is_current, h.due_on) for h in history] == [
        (False, TODAY + timedelta(days=3)),
        (True, TODAY + timedelta(days=10)),
    ]
    assert [c.deadline.subject for c in current] == ["TK-1"]
    assert current[0].deadline.explanation[1] == "second line"
    engine.dispose()


@pytest.mark.slow
def test_store_deadlines_handles_100k_in_bulk(sqlite_url):
    """100 000 deadlines are stored, then re-compared, in bulk (their speed: bench/)."""
    engine = migrate(sqlite_url)
    many = [d(f"TK-{i}", "START-2W", Status.OPEN, 30) for i in range(100_000)]
    many += [d(f"TK-{i}", "DAY-QUOTA", Status.OK, None) for i in range(100_000)]
    with session_scope(engine) as session:
        r1 = store_deadlines(session=session, provider_id="p1", deadlines=many, evaluated_on=TODAY)
    with session_scope(engine) as session:
        r2 = store_deadlines(session=session, provider_id="p1", deadlines=many, evaluated_on=TODAY)
    engine.dispose()
    assert (r1.new, r2.unchanged) == (200_000, 200_000)


def test_cli_notify_ack_silence_and_list(sqlite_url, smtp_sink, webhook, env, tmp_path):
    """The CLI contract: notify --format json, ack, silence (needs --until), alerts list."""
    seed(sqlite_url)
    config = tmp_path / "vahti.toml"
    config.write_text(
        f"""
[database]
url = "{sqlite_url}"
[recipients.coaches.p1.c1]
urls = ["{smtp_sink.url("c1@example.org")}"]
language = "fi"
[recipients.coaches.p1.c2]
urls = ["{webhook.url("coach/${{HOOK_TOKEN}}")}"]
language = "sv"
[[recipients.quality]]
urls = ["{smtp_sink.url("quality@example.org")}"]
language = "en"
name = "lv"
""",
        encoding="utf-8",
    )
    runner = CliRunner()
    acked = runner.invoke(
        app,
        [
            "ack",
            "TK-2",
            "WORKPLACE-1M",
            "--reason",
            "Kela informed",
            "--by",
            "laura",
            "--config",
            str(config),
        ],
    )
    assert acked.exit_code == 0, acked.output
    no_until = runner.invoke(
        app, ["silence", "TV-3", "FEEDBACK-DUE", "--reason", "x", "--config", str(config)]
    )
    assert no_until.exit_code != 0
    dry = runner.invoke(
        app,
        [
            "notify",
            "--config",
            str(config),
            "--today",
            "2026-04-07",
            "--dry-run",
            "--format",
            "json",
        ],
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["sent"] == 0
    result = runner.invoke(
        app, ["notify", "--config", str(config), "--today", "2026-04-07", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"sent", "failed", "suppressed", "pending", "by_language"} <= set(data)
    assert (data["sent"], data["failed"], data["suppressed"]) == (3, 0, 1)
    assert data["by_language"] == {"en": 1, "fi": 1, "sv": 1}
    listed = runner.invoke(app, ["alerts", "list", "--config", str(config), "--format", "json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert len(rows) == 3
    assert all(TOKEN not in json.dumps(r) for r in rows)
    bad = runner.invoke(app, ["alerts", "list", "--config", str(config), "--status", "nope"])
    assert bad.exit_code == 2
    text = runner.invoke(app, ["notify", "--config", str(config), "--today", "2026-04-07"])
    assert text.exit_code == 0
    assert "sent 0 message(s) carrying 0 alert item(s)" in text.stdout


def test_maildir_sink_files_messages_a_mail_client_can_open(tmp_path):
    """The demo sink writes each received email into a Maildir on disk."""
    load_plugins()
    with MaildirSink(tmp_path / "mail", record=False) as sink:
        sender = apprise.Apprise()
        assert sender.add(sink.url("coach@example.org"))
        assert sender.notify(
            title="Vahti", body="<p>hei</p>", body_format=apprise.NotifyFormat.HTML
        )
        assert sink.messages == []
    box = mailbox.Maildir(tmp_path / "mail", create=False)
    messages = list(box)
    assert len(messages) == 1
    assert messages[0]["To"] == "coach@example.org"
    assert messages[0]["Subject"] == "Vahti"


def test_smtp_refusing_the_recipient_keeps_alerts_failed(sqlite_url, smtp_sink, webhook, env):
    """An SMTP server refusing the recipient is a failure; nothing is marked sent."""
    seed(sqlite_url, [d("TK-1", "START-2W", Status.DUE_SOON, 3)])
    smtp_sink.mode = "refuse_rcpt"
    report = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW)
    assert (report.sent, report.failed, report.pending) == (0, 1, 1)
    assert [a.status for a in alerts(sqlite_url)] == ["failed"]
    smtp_sink.mode = "fail"
    later = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW + timedelta(hours=1))
    assert later.failed == 1
    assert smtp_sink.messages == []


def test_removed_recipient_and_unroutable_alerts_are_reported(sqlite_url, smtp_sink, webhook, env):
    """Rows for a recipient removed from the config fail visibly; no recipient at all is
    counted as unroutable, never silently dropped."""
    seed(sqlite_url, [d("TV-3", "FEEDBACK-DUE", Status.DUE_SOON, 7, coach_id="c2")])
    settings = settings_for(sqlite_url, smtp_sink, webhook)
    webhook.mode = "fail"
    notify(settings, now=NOW)
    without_c2 = settings.model_copy(
        update={
            "recipients": settings.recipients.model_copy(
                update={"coaches": {"p1": {"c1": settings.recipients.coaches["p1"]["c1"]}}}
            )
        }
    )
    report = notify(without_c2, now=NOW + timedelta(hours=1))
    assert report.failed == 1
    assert any("no longer configured" in e for e in report.errors)
    nobody = Settings.model_validate({"database": {"url": sqlite_url}})
    seed(sqlite_url, [d("TK-8", "START-2W", Status.BREACHED, -1)])
    lonely = notify(nobody, now=NOW)
    assert lonely.unroutable == 1
    with pytest.raises(InputError, match="no time zone"):
        notify(nobody, now=datetime(2026, 4, 7, 9, 0))


def test_notify_operations_once_per_subject_and_day(sqlite_url, smtp_sink, webhook, env):
    """A sync failure reaches operations once a day, with the masked reason."""
    migrate(sqlite_url).dispose()
    settings = settings_for(sqlite_url, smtp_sink, webhook)
    for _ in range(2):
        notify_operations(
            settings,
            now=NOW,
            provider_id="p1",
            rule="SYNC-FAILED",
            subject="p1",
            reason="provider 'p1': HTTP 503 after 5 attempts",
        )
    ops = by_rcpt(smtp_sink)["ops@example.org"]
    assert len(ops) == 1
    assert "Fetching the provider's data failed" in ops[0].text()
    assert "HTTP 503" in ops[0].text()


def test_ledger_rows_written_in_small_batches_are_the_same_rows(
    sqlite_url, smtp_sink, webhook, env, monkeypatch
):
    """Alerts turned into ledger rows one at a time give the same ledger and digests."""
    from notifications import write_ahead  # noqa: PLC0415 - the batch size is patched

    monkeypatch.setattr(write_ahead, "ROW_BATCH", 1)
    seed(sqlite_url)
    dry = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW, dry_run=True)
    assert dry.planned == 5
    assert dry.by_language == {"en": 2, "fi": 2, "sv": 1}
    report = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW)
    assert (report.planned, report.sent, report.failed) == (5, 5, 0)
    assert sorted(a.subject for a in alerts(sqlite_url)) == [
        "AUD-1",
        "TK-1",
        "TK-2",
        "TK-2",
        "TV-3",
    ]


def test_a_warning_reached_by_the_date_carries_its_reasons_and_link(
    sqlite_url, smtp_sink, webhook, env
):
    """A dated due_soon row is stored planned and read back narrow, through the warning
    window; the alert it gets is written with the whole row: its reason and its link."""
    seed(sqlite_url, [d("TK-1", "START-2W", Status.DUE_SOON, 3)])
    report = notify(settings_for(sqlite_url, smtp_sink, webhook), now=NOW)
    assert report.sent == 1
    [row] = alerts(sqlite_url)
    item = json.loads(row.item)
    assert row.stage == "warn-3"
    assert item["link"] == "https://provider.example/cases/TK-1"
    assert "2026-03-24 + 14 d" in item["reason"]
    assert "TK-1" in smtp_sink.messages[0].text()
