"""Two providers sharing coach ids: a hostile one can never route, suppress or substitute
the other's alerts (issue 22), whichever provider id sorts first."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from contract.hetu import contains_identity_code
from contract.payloads import AbsencePayload, CoachPayload
from core.config import Settings
from models import store
from models.alerting import Alert
from models.db import make_engine, session_scope
from models.deadlines import store_deadlines
from models.schema import upgrade
from notifications.service import notify
from rules.deadline import Deadline, Status

TODAY = date(2026, 4, 7)  # Tuesday
NOW = datetime(2026, 4, 7, 9, 0, tzinfo=UTC)
PHISHING_URL = (
    "https://crm.example.fi/c/1) **Kela: tunnuksesi vanhenee** "
    "[Kirjaudu tästä](https://evil.example/login"
)
IDENTITY_CODE = "131052-308T"
AWAY = (AbsencePayload(start_on=TODAY - timedelta(days=3), end_on=TODAY + timedelta(days=3)),)


def case(ref: str, coach_id: str, days: int, link: str) -> Deadline:
    return Deadline(
        subject_kind="case",
        subject=ref,
        rule="START-2W",
        status=Status.DUE_SOON,
        due_on=TODAY + timedelta(days=days),
        days_left=days,
        coach_id=coach_id,
        link=link,
        explanation=(f"decision received 2026-03-24 + 14 d, client {IDENTITY_CODE}",),
    )


def seed(url: str, good: str, evil: str, evil_staff: list[CoachPayload]) -> None:
    engine = make_engine(url)
    upgrade(engine)
    staff = {
        good: [
            CoachPayload(id="c-001", office_id="HEL-1"),
            CoachPayload(id="c-002", office_id="HEL-1"),
        ],
        evil: evil_staff,
    }
    deadlines = {
        good: [
            case("TK-GOOD-1", "c-001", 3, "https://crm.good.example/cases/TK-GOOD-1"),
            case("TK-GOOD-2", "c-002", 5, "https://crm.good.example/cases/TK-GOOD-2"),
        ],
        evil: [case("TK-EVIL-1", "c-001", 1, PHISHING_URL)],
    }
    with session_scope(engine) as session:
        for provider_id in (good, evil):
            store.ensure_provider(session=session, provider_id=provider_id, name="", now=NOW)
            change = store.staff_change(
                session=session,
                provider_id=provider_id,
                items=[(c, c.model_dump(mode="json")) for c in staff[provider_id]],
                listed_ids=[c.id for c in staff[provider_id]],
                synced_at=NOW,
            )
            store.replace_coaches(session=session, provider_id=provider_id, change=change)
            store_deadlines(
                session=session,
                provider_id=provider_id,
                deadlines=deadlines[provider_id],
                evaluated_on=TODAY,
            )
    engine.dispose()


def settings_for(url: str, good: str, evil: str, smtp_sink, webhook) -> Settings:
    def provider(provider_id: str, origin: str) -> dict[str, object]:
        return {
            "id": provider_id,
            "base_url": f"https://{provider_id}.example",
            "token_env": "UNUSED_TOKEN",
            "case_link_origins": [origin],
        }

    return Settings.model_validate(
        {
            "database": {"url": url},
            "providers": [
                provider(good, "https://crm.good.example"),
                provider(evil, "https://crm.evil.example"),
            ],
            "recipients": {
                "coaches": {
                    good: {
                        "c-001": {"urls": [smtp_sink.url("good-c001@example.org")]},
                        "c-002": {"urls": [smtp_sink.url("good-c002@example.org")]},
                    },
                    evil: {"c-002": {"urls": [smtp_sink.url("evil-c002@example.org")]}},
                },
                "quality": [{"urls": [webhook.url("quality")], "name": "lv", "language": "en"}],
            },
        }
    )


EVIL_STAFF = {
    "without-c-001": [CoachPayload(id="c-002", office_id="X-1")],
    "c-001-absent-substitute-c-002": [
        CoachPayload(id="c-001", office_id="X-1", absent=AWAY, substitute_id="c-002"),
        CoachPayload(id="c-002", office_id="X-1"),
    ],
}


@pytest.mark.parametrize("staff", sorted(EVIL_STAFF))
@pytest.mark.parametrize("order", [("a-good", "z-evil"), ("z-good", "a-evil")])
def test_a_hostile_provider_sharing_coach_ids_reaches_none_of_the_others_coaches(
    database_url, smtp_sink, webhook, order, staff
):
    """good's c-001 and c-002 get exactly good's items; evil's case reaches only evil's own
    substitute or quality staff, its phishing link inert; no identity code anywhere."""
    good, evil = order  # the hostile provider's id sorting after and before good's
    seed(database_url, good, evil, EVIL_STAFF[staff])
    report = notify(settings_for(database_url, good, evil, smtp_sink, webhook), now=NOW)
    assert report.failed == 0
    mails: dict[str, list[str]] = {}
    for message in smtp_sink.messages:
        for rcpt in message.rcpt_tos:
            mails.setdefault(rcpt, []).append(message.text())
    substituted = staff == "c-001-absent-substitute-c-002"  # evil's own c-002 stands in
    expected = ["good-c001@example.org", "good-c002@example.org"]
    assert sorted(mails) == sorted(expected + (["evil-c002@example.org"] if substituted else []))
    (c001,) = mails["good-c001@example.org"]
    (c002,) = mails["good-c002@example.org"]
    assert set(re.findall(r"TK-[A-Z]+-\d", c001)) == {"TK-GOOD-1"}
    assert set(re.findall(r"TK-[A-Z]+-\d", c002)) == {"TK-GOOD-2"}
    for body in (c001, c002):
        assert "evil" not in body.lower()
    if substituted:
        (evil_text,) = mails["evil-c002@example.org"]
        assert webhook.received == []
        assert "href" not in evil_text  # the HTML mail links nothing: off its origins
    else:
        assert len(webhook.received) == 1  # quality staff: evil has no coach c-001
        evil_text = webhook.received[0]["json"]["message"]
        assert not re.search(r"(?<!\\)\]\(", evil_text)  # no Markdown link: off its origins
        assert "**Kela" not in evil_text
    assert set(re.findall(r"TK-[A-Z]+-\d", evil_text)) == {"TK-EVIL-1"}
    assert "https://evil.example" not in evil_text
    everything = [*c001.splitlines(), *c002.splitlines(), *evil_text.splitlines()]
    everything += [m.raw.decode("utf-8", "replace") for m in smtp_sink.messages]
    everything.append(json.dumps(webhook.received, ensure_ascii=False))
    for text in everything:
        assert not contains_identity_code(text)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Alert)))
    engine.dispose()
    assert {(r.provider_id, r.recipient_key) for r in rows} == {
        (good, f"coach:{good}/c-001"),
        (good, f"coach:{good}/c-002"),
        (evil, f"coach:{evil}/c-002" if substituted else "quality:lv"),
    }
