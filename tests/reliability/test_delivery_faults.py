"""Delivery faults: SMTP down, slow or refusing; webhook 500s and timeouts.

For each fault the coach's alerts stay ``failed`` (pending) and are never marked sent,
are retried only after their backoff (``retry_base_minutes`` x 2^(attempts-1)), reach
operations once after ``max_attempts_before_operations`` failures, and once the receiver
works again are delivered exactly once.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from core.config import Settings
from models.alerting import Alert
from models.db import make_engine, session_scope
from models.deadlines import store_deadlines
from models.schema import upgrade
from notifications.service import notify
from reference.mail import MaildirSink
from rules.deadline import Deadline, Status
from tests.fixtures.smtp import WebhookReceiver
from tests.reliability.conftest import Figures

TODAY = date(2026, 4, 7)  # Tuesday
NOW = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)  # 12:00 in Helsinki: inside the send window
DEADLINES = [
    Deadline(subject_kind="case", subject=f"TK-2026-{n:04d}", rule="START-2W",
             status=Status.DUE_SOON, due_on=TODAY + timedelta(days=3), days_left=3,
             coach_id="c1", explanation=("trigger + 14 d",))
    for n in range(1, 4)
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_smtp() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def _mailto(port: int, to: str) -> str:
    return f"mailto://127.0.0.1:{port}?to={to}&from=vahti@example.org&mode=insecure&cto=1"


def _settings(url: str, coach_url: str, ops_url: str) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "recipients": {
                "coaches": {"p1": {"c1": {"urls": [coach_url], "language": "fi"}}},
                "quality": [{"urls": [ops_url], "name": "lv", "language": "en"}],
                "operations": [{"urls": [ops_url], "name": "ops", "language": "en"}],
            },
            "alerts": {"retry_base_minutes": 1, "max_attempts_before_operations": 3},
        }
    )


def _coach_alerts(url: str) -> list[Alert]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(Alert).where(Alert.role == "coach").order_by(Alert.id)
            return list(session.exec(query))
    finally:
        engine.dispose()


FAULTS = ["smtp-down", "smtp-slow", "smtp-refuse-rcpt", "smtp-451", "webhook-500", "webhook-hang"]


@pytest.mark.parametrize("fault", FAULTS)
def test_delivery_fault_keeps_alerts_pending_retries_with_backoff_and_tells_operations(
    fault: str,
    sqlite_url: str,
    smtp_sink: MaildirSink,
    webhook: WebhookReceiver,
    figures: Figures,
) -> None:
    """Alerts stay failed and unsent, retry after backoff, reach operations, then go once."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with session_scope(engine) as session:
        store_deadlines(session=session, provider_id="p1", deadlines=DEADLINES, evaluated_on=TODAY)
    engine.dispose()
    repaired: list[MaildirSink] = []
    with silent_smtp() as silent_port:
        down_port = _free_port()
        coach_url, ops_url = {
            "smtp-down": (_mailto(down_port, "c1@example.org"), smtp_sink.url("ops@example.org")),
            "smtp-slow": (_mailto(silent_port, "c1@example.org"), smtp_sink.url("ops@example.org")),
            "smtp-refuse-rcpt": (smtp_sink.url("c1@example.org"), webhook.url("ops")),
            "smtp-451": (smtp_sink.url("c1@example.org"), webhook.url("ops")),
            "webhook-500": (webhook.url("coach"), smtp_sink.url("ops@example.org")),
            "webhook-hang": (webhook.url("coach"), smtp_sink.url("ops@example.org")),
        }[fault]
        smtp_sink.mode = {"smtp-refuse-rcpt": "refuse_rcpt", "smtp-451": "fail"}.get(
            fault, "accept"
        )
        webhook.mode = {"webhook-500": "fail", "webhook-hang": "hang"}.get(fault, "ok")
        webhook.hang_seconds = 1.5
        settings = _settings(sqlite_url, coach_url, ops_url)

        def coach_mail() -> int:
            if fault.startswith("webhook"):
                return sum(1 for r in webhook.received if r["path"].startswith("/coach"))
            got = [m for m in smtp_sink.messages if "c1@example.org" in m.rcpt_tos]
            return len(got) + sum(len(s.messages) for s in repaired)

        def ops_told() -> int:
            if ops_url.startswith("json"):
                return sum(1 for r in webhook.received if r["path"].startswith("/ops"))
            return sum(1 for m in smtp_sink.messages if "ops@example.org" in m.rcpt_tos)

        # 1st failure at NOW, retried after 1 min, then after 2 more: 3 failures in all.
        for minutes, attempts in ((0, 1), (0.5, 1), (1, 2), (2, 2), (3, 3)):
            report = notify(settings, now=NOW + timedelta(minutes=minutes))
            rows = _coach_alerts(sqlite_url)
            assert [r.status for r in rows] == ["failed"] * 3, (minutes, fault)
            assert {r.attempts for r in rows} == {attempts}
            assert {r.next_attempt_at for r in rows} == {
                NOW + timedelta(minutes=1 + (attempts > 1) * 2 + (attempts > 2) * 4)
            } or minutes == 0
            assert all(r.sent_at is None and r.last_error for r in rows)
            assert coach_mail() == 0
            assert report.sent in {0, 1}  # only operations' own alert may go out
        assert ops_told() == 1
        assert "c1" in (rows[0].last_error or "")
        assert "example.org" not in (rows[0].last_error or "")

        smtp_sink.mode = "accept"
        webhook.mode = "ok"
        if fault == "smtp-down":
            repaired.append(MaildirSink(port=down_port).start())
    try:
        if fault == "smtp-slow":  # the silent server is gone; a working one takes its port
            repaired.append(MaildirSink(port=silent_port).start())
        final = notify(settings, now=NOW + timedelta(minutes=8))
        assert final.sent == 3
        assert [r.status for r in _coach_alerts(sqlite_url)] == ["sent"] * 3
        assert coach_mail() == 1
        assert notify(settings, now=NOW + timedelta(hours=3)).sent == 0
        assert coach_mail() == 1
        assert ops_told() == 1
    finally:
        for sink in repaired:
            sink.stop()
    figures.add(
        "delivery_faults",
        faults_injected=3,
        runs=7,
        alerts_expected=3,
        alerts_delivered=3,
        alerts_duplicated=coach_mail() - 1,
        records_lost=0,
    )
