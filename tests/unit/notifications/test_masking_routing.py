"""Masking of Apprise URLs, recipient validation and routing to coach/substitute/quality/ops."""

from __future__ import annotations

from datetime import date

import pytest

from contract.payloads import AbsencePayload, CoachPayload
from core.config import Recipient, RecipientsSettings
from core.errors import ConfigError
from notifications.masking import mask_text, mask_url
from notifications.policy import PlannedAlert
from notifications.routing import Router, expand_env, validate_recipients
from rules.deadline import Deadline, Status

SECRET = "Sup3rS3cretTok3n"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            f"mailtos://user:{SECRET}@smtp.example.org:587?to=a@example.org",
            "mailtos://****:****@smtp.example.org:587?to=****",
        ),
        (f"json://127.0.0.1:8080/hook/{SECRET}?rto=1", "json://127.0.0.1:8080/****/****?rto=1"),
        (f"slack://T0AAA/B0BBB/{SECRET}", "slack://****/****/****"),
        (
            f"workflows://prod.example.com:443/{SECRET}/sig#frag",
            "workflows://prod.example.com:443/****/****#****",
        ),
        (
            "json://${HOOK_USER}:${HOOK_PASS}@hooks.example.org/${HOOK_PATH}",
            "json://${HOOK_USER}:${HOOK_PASS}@hooks.example.org/${HOOK_PATH}",
        ),
        ("ntfy://localhost/topic", "ntfy://localhost/****"),
        ("no scheme at all", "****"),
        ("json://host:notaport/x", "json://****"),
    ],
)
def test_mask_url_hides_every_secret_piece(url, masked):
    """User, password, path segments, query values and token-hosts are masked."""
    assert mask_url(url) == masked
    assert SECRET not in mask_url(url)


def test_mask_text_scrubs_urls_and_their_pieces():
    """A log line quoting the URL or only its token is scrubbed."""
    url = f"json://127.0.0.1:9/hook/{SECRET}"
    text = f"POST {url} failed; token {SECRET} rejected"
    assert SECRET not in mask_text(text, [url])
    assert "json://127.0.0.1:9/****/****" in mask_text(text, [url])


def test_expand_env_at_send_time_and_missing_variable_is_named():
    """${NAME} is replaced from the environment; a missing one names the variable only."""
    assert expand_env("json://h.example/${TOK}", {"TOK": "abc"}) == "json://h.example/abc"
    with pytest.raises(ConfigError, match="TOK is not set"):
        expand_env("json://h.example/${TOK}", {})


def _recipients(**kw: object) -> RecipientsSettings:
    base: dict[str, object] = {
        "coaches": {
            "p1": {
                "c1": Recipient(urls=["json://127.0.0.1:9/c1"], language="fi"),
                "c2": Recipient(urls=["json://127.0.0.1:9/c2"], language="sv"),
            }
        },
        "quality": [Recipient(urls=["json://127.0.0.1:9/q"], language="en", name="lv")],
        "operations": [Recipient(urls=["json://127.0.0.1:9/ops"], language="en", name="ops")],
    }
    base.update(kw)
    return RecipientsSettings(**base)  # type: ignore[arg-type]


def test_valid_recipients_pass():
    """Loadable URLs and known coach ids validate."""
    validate_recipients(_recipients(), known_coach_ids={"p1": {"c1", "c2", "c3"}})


@pytest.mark.parametrize(
    ("recipients", "message"),
    [
        (
            _recipients(coaches={"p1": {"ghost": Recipient(urls=["json://127.0.0.1:9/x"])}}),
            "unknown coach id",
        ),
        (
            _recipients(quality=[Recipient(urls=[f"nosuchscheme://{SECRET}@x"])]),
            "Apprise cannot load",
        ),
        (_recipients(quality=[Recipient(urls=["json://127.0.0.1:9/q?tag=all"])]), "catch-all tag"),
        (
            _recipients(quality=[Recipient(urls=["json://127.0.0.1:9/${NOPE_TOKEN}"])]),
            "NOPE_TOKEN is not set",
        ),
    ],
)
def test_invalid_recipients_are_refused_with_a_masked_name(recipients, message):
    """Each problem is a ConfigError naming the recipient, never showing the secret."""
    with pytest.raises(ConfigError, match=message) as caught:
        validate_recipients(recipients, known_coach_ids={"p1": {"c1", "c2"}}, environ={})
    assert SECRET not in str(caught.value)


def _alert(kind: str = "case", rule: str = "START-2W", audience=("owner",), coach="c1"):
    d = Deadline(
        subject_kind=kind,
        subject="TK-1",
        rule=rule,
        status=Status.DUE_SOON,  # type: ignore[arg-type]
        coach_id=coach,
    )
    return PlannedAlert("k", "p1", d, "warn-3", frozenset(audience), False, 3)  # type: ignore[arg-type]


ON = date(2026, 4, 7)
AWAY = (AbsencePayload(start_on=date(2026, 4, 1), end_on=date(2026, 4, 10)),)


def _coach(cid: str, absent=(), substitute=None) -> CoachPayload:
    return CoachPayload(id=cid, office_id="o1", absent=absent, substitute_id=substitute)


@pytest.mark.parametrize(
    ("coaches", "alert", "expected"),
    [
        ([_coach("c1")], _alert(), ["coach:p1/c1"]),
        ([_coach("c1", AWAY, "c2"), _coach("c2")], _alert(), ["coach:p1/c2"]),
        ([_coach("c1", AWAY)], _alert(), ["quality:lv"]),
        ([_coach("c1", AWAY, "c2"), _coach("c2", AWAY)], _alert(), ["quality:lv"]),
        ([_coach("c1", AWAY, "c9"), _coach("c9")], _alert(), ["quality:lv"]),
        ([], _alert(coach="c7"), ["quality:lv"]),
        ([], _alert(coach=None), ["quality:lv"]),
        ([_coach("c1")], _alert(audience=("owner", "quality")), ["coach:p1/c1", "quality:lv"]),
        ([_coach("c1")], _alert(audience=("quality",)), ["quality:lv"]),
        ([], _alert(kind="audit", rule="AUDIT-RESPONSE-4W"), ["quality:lv"]),
        ([], _alert(kind="coach", rule="FIRST-AID-VALID"), ["quality:lv"]),
        ([], _alert(kind="provider", rule="SYNC-FAILED"), ["operations:ops"]),
    ],
)
def test_routing(coaches, alert, expected):
    """Case rules go to the coach or substitute, else quality; ops rules to operations."""
    router = Router(_recipients(), {"p1": coaches})
    assert [t.recipient_key for t in router.route(alert, on=ON)] == expected


def test_quality_falls_back_to_operations_when_not_configured():
    """With no quality staff configured, quality alerts reach operations rather than nobody."""
    router = Router(_recipients(quality=[]))
    assert [t.recipient_key for t in router.quality] == ["operations:ops"]
    assert [t.recipient_key for t in router.operations] == ["operations:ops"]


def test_target_label_is_masked():
    """The label stored in the ledger names the recipient with a masked URL."""
    rec = _recipients(quality=[Recipient(urls=[f"json://127.0.0.1:9/{SECRET}"], name="q")])
    target = Router(rec).quality[0]
    assert SECRET not in target.label
    assert target.key.startswith("quality:q#")
