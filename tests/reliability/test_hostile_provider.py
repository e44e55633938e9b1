"""A hostile provider beside a healthy one: every attack ends bounded, recorded and isolated.

Each test syncs two providers with ``sync_all``, the hostile one first (a traceback from
it would stop the healthy one): a small hostile ASGI app on loopback
(:mod:`tests.reliability.hostile_server`) and the reference provider. The hostile provider
has small caps (1 s per request, 1 MiB per body, 6 s per sync) so each test is quick.
Each asserts the wall time and the peak of Python's allocations (tracemalloc, which sees
the server thread too) against generous bounds, the error recorded on the hostile
provider's ``sync_run`` rows (none left ``running``), the healthy provider synced in
full, and no secret anywhere. The figures go to RELIABILITY.md ("Hostile provider").
"""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

import providers.sync
from core.redact import REDACTED
from models.db import make_engine
from models.provider_data import Case, Provider, RejectedPayload, SyncRun
from providers.sync import SyncReport, sync_all
from reference.generator import generate_dataset
from tests.fixtures.provider_server import TODAY, TOKEN, ReferenceServer, StartServer
from tests.reliability.conftest import Figures, make_settings, provider_settings
from tests.reliability.hostile_server import (
    Behaviour,
    gzip_bomb,
    hostile_server,
    huge_body,
    page,
    respond,
    stream,
    trickle,
)
from tests.reliability.test_secrets import _db_text

pytestmark = pytest.mark.usefixtures("set_provider_token")

MIB = 1024 * 1024
HOSTILE = {
    "page_size": 25,
    "max_attempts": 2,
    "timeout_seconds": 2.0,
    "request_timeout_seconds": 1.0,
    "max_body_bytes": MIB,
    "sync_timeout_seconds": 6.0,
}
GOOD_CASES = 30
CASES = generate_dataset(cases=6, seed=3, today=TODAY)
VALID = [CASES.case_dict(i) for i in range(len(CASES))]


@dataclass
class Outcome:
    """Both providers' reports, the wall time and the allocation peak of the sync."""

    evil: SyncReport
    good: SyncReport
    seconds: float
    peak_mib: float
    url: str


@pytest.fixture
def good(start_reference_server: StartServer) -> ReferenceServer:
    """The healthy provider."""
    return start_reference_server(cases=GOOD_CASES, seed=4)


def _sync(url: str, evil_url: str, good: ReferenceServer, **knobs: object) -> Outcome:
    settings = make_settings(
        url,
        [
            provider_settings("evil", evil_url, **{**HOSTILE, **knobs}),
            provider_settings("good", good.url),
        ],
    )
    tracemalloc.start()
    started = time.perf_counter()
    try:
        evil, healthy = sync_all(settings)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Outcome(evil, healthy, seconds, peak / MIB, url)


def _runs(url: str, pid: str) -> list[SyncRun]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(SyncRun).where(SyncRun.provider_id == pid)))
    finally:
        engine.dispose()


def _count(url: str, model: type[Any], pid: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            query = select(func.count()).select_from(model).where(model.provider_id == pid)
            return int(session.scalar(query) or 0)
    finally:
        engine.dispose()


def _isolated(
    outcome: Outcome,
    figures: Figures,
    name: str,
    expect: str,
    *,
    seconds: float,
    peak_mib: float = 64.0,
) -> None:
    """The hostile provider's error recorded (its runs failed, none running), the healthy
    provider synced in full, within ``seconds`` and ``peak_mib``; the row recorded."""
    assert not outcome.evil.ok
    assert any(expect in error for error in outcome.evil.errors), outcome.evil.errors
    runs = _runs(outcome.url, "evil")
    assert [run.status for run in runs] == ["failed"]
    assert expect in (runs[0].error or "")
    assert outcome.good.ok, outcome.good.errors
    assert _count(outcome.url, Case, "good") == GOOD_CASES
    assert outcome.seconds < seconds, f"{outcome.seconds:.1f} s"
    assert outcome.peak_mib < peak_mib, f"{outcome.peak_mib:.0f} MiB"
    figures.add("hostile_provider", faults_injected=1, runs=2, records_lost=0)
    figures.row(
        "hostile_provider",
        name,
        seconds=round(outcome.seconds, 2),
        peak_mib=round(outcome.peak_mib, 1),
        outcome=expect,
    )


@pytest.mark.slow  # waits out its deadline on purpose
def test_trickling_provider_ends_at_the_request_deadline(
    sqlite_url: str, good: ReferenceServer, retries: Any, figures: Figures
) -> None:
    """A body trickled a byte at a time ends as a transient error after the request deadline."""
    with hostile_server({"/v1/cases": trickle(pause=0.2)}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, "trickle (a byte every 0.2 s, forever)",
              "no complete response within request_timeout_seconds=1", seconds=8.0)  # fmt: skip
    assert outcome.evil.transient
    assert len(retries.delays) == 1  # two attempts, each ended at the deadline


def test_gzip_bomb_is_given_up_at_the_body_cap(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A 2 MB gzip body inflating to 2 GiB is given up at the cap, never held in memory."""
    bomb = gzip_bomb()
    headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    with hostile_server({"/v1/cases": respond(200, bomb, headers)}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    assert len(bomb) < 3 * MIB
    _isolated(outcome, figures, "gzip bomb (2 MB inflating to 2 GiB)",
              f"body larger than max_body_bytes={MIB} after decompression", seconds=10.0,
              peak_mib=64.0)  # fmt: skip


def test_page_with_more_items_than_asked_is_a_contract_error(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """100 000 items where 25 were asked: a contract error, nothing of the page stored."""
    items = [dict(VALID[0], case_ref=f"TK-2026-{n:05d}") for n in range(2)] + [{}] * 99_998
    with hostile_server({"/v1/cases": page(items)}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good, max_body_bytes=16 * MIB)
    _isolated(outcome, figures, "100 000 items asked with limit=25",
              "100000 items where limit=25 was asked", seconds=10.0, peak_mib=200.0)  # fmt: skip
    assert _count(sqlite_url, Case, "evil") == 0
    assert _count(sqlite_url, RejectedPayload, "evil") == 0


def _many_items(total: int) -> Iterator[bytes]:
    item = json.dumps(VALID[0]).encode()
    yield b'{"items": ['
    sent = 0
    while sent < total:
        yield b",".join([item] * 100) + b","
        sent += (len(item) + 1) * 100
    yield item + b"]}"


@pytest.mark.parametrize(
    ("name", "behaviour"),
    [
        ("a page of 200 MB", stream(lambda: _many_items(200 * 10**6))),
        ("one string of 50 MB", huge_body(50 * 10**6)),
    ],
    ids=["page-200MB", "string-50MB"],
)
def test_huge_body_is_given_up_at_the_body_cap(
    sqlite_url: str, good: ReferenceServer, figures: Figures, name: str, behaviour: Behaviour
) -> None:
    """A 200 MB page or a 50 MB string is given up at the body cap; nothing of it is stored."""
    with hostile_server({"/v1/cases": behaviour}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, name, f"body larger than max_body_bytes={MIB}", seconds=10.0)
    assert _count(sqlite_url, Case, "evil") == 0


def test_item_over_the_item_cap_is_rejected_as_an_excerpt_the_rest_stored(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A 600 KB item is rejected (an excerpt, its size and hash kept); the rest is stored."""
    big = dict(VALID[0], case_ref="TK-2026-9999", notes="n" * 600_000)
    with hostile_server({"/v1/cases": page([big, *VALID[1:]])}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    assert outcome.evil.ok, outcome.evil.errors
    assert outcome.good.ok, outcome.good.errors
    assert _count(sqlite_url, Case, "evil") == len(VALID) - 1
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        (row,) = session.scalars(
            select(RejectedPayload).where(RejectedPayload.provider_id == "evil")
        )
    engine.dispose()
    assert row.ref == "TK-2026-9999"
    assert "max_item_bytes=262144" in row.errors[0]
    assert len(row.raw) < 4096
    assert json.loads(row.raw)["bytes"] > 600_000
    assert outcome.seconds < 10.0
    figures.add("hostile_provider", faults_injected=1, runs=2, records_lost=0)
    figures.row("hostile_provider", "one item of 600 KB (cap 256 KiB)",
                seconds=round(outcome.seconds, 2), peak_mib=round(outcome.peak_mib, 1),
                outcome="item rejected, excerpt kept; the rest stored")  # fmt: skip


def test_huge_integer_in_an_item_rejects_that_item_only(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A 5000-digit integer inside an item rejects that item (named); the rest is stored."""
    body = json.dumps({"items": [dict(VALID[0], minutes="@@"), *VALID[1:]], "next_cursor": None})
    body = body.replace('"@@"', "9" * 5000)
    with hostile_server({"/v1/cases": respond(200, body.encode())}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    assert outcome.evil.ok, outcome.evil.errors
    assert outcome.good.ok, outcome.good.errors
    assert _count(sqlite_url, Case, "evil") == len(VALID) - 1
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        (row,) = session.scalars(
            select(RejectedPayload).where(RejectedPayload.provider_id == "evil")
        )
    engine.dispose()
    assert row.ref == VALID[0]["case_ref"]
    assert row.errors == [
        (
            "items[0]: minutes: an integer of 5000 digits is not a JSON number Vahti accepts "
            "(integers within ±2^53; no NaN or Infinity)"
        )
    ]
    figures.add("hostile_provider", faults_injected=1, runs=2, records_lost=0)
    figures.row("hostile_provider", "a 5000-digit integer in an item",
                seconds=round(outcome.seconds, 2), peak_mib=round(outcome.peak_mib, 1),
                outcome="item rejected, named; the rest stored")  # fmt: skip


def test_huge_integer_outside_the_items_is_a_contract_error(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A 5000-digit integer in the page itself is a contract error, never a ValueError."""
    body = b'{"items": [], "next_cursor": null, "total": ' + b"9" * 5000 + b"}"
    with hostile_server({"/v1/cases": respond(200, body)}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, "a 5000-digit integer outside the items",
              "page: total: an integer of 5000 digits", seconds=5.0)  # fmt: skip


def test_huge_cursor_is_a_contract_error(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A 500 000-character next_cursor is a contract error, never an InvalidURL traceback."""
    with hostile_server({"/v1/cases": page(VALID, "c" * 500_000)}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, "a next_cursor of 500 000 characters",
              "next_cursor of 500000 characters is longer than max_cursor_chars=1024",
              seconds=5.0)  # fmt: skip


def test_retry_after_beyond_the_cap_is_unavailable_at_once(
    sqlite_url: str, good: ReferenceServer, figures: Figures, retries: Any
) -> None:
    """429 with Retry-After 10^9, forever: a transient error at once, nothing waited for."""
    parked = respond(429, b"{}", [(b"retry-after", b"1000000000")])
    with hostile_server({"*": parked}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, "429 forever, Retry-After 10^9 s",
              "provider unavailable: Retry-After 1000000000 s", seconds=5.0)  # fmt: skip
    assert outcome.evil.transient
    assert retries.delays == []


@pytest.mark.slow  # waits out the sync cap on purpose
def test_429_forever_stops_at_the_sync_cap(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """429 forever with a Retry-After under the cap: the whole sync stops at its time cap."""
    parked = respond(429, b"{}", [(b"retry-after", b"1")])
    with hostile_server({"*": parked}) as (server, app):
        outcome = _sync(sqlite_url, server.url, good, max_attempts=20, sync_timeout_seconds=3.0)
    _isolated(outcome, figures, "429 forever, Retry-After 1 s (sync cap 3 s)",
              "(sync_timeout_seconds=3)", seconds=8.0)  # fmt: skip
    assert len(app.requests) <= 5


def test_future_updated_at_is_rejected_and_never_the_watermark(
    sqlite_url: str, good: ReferenceServer, figures: Figures
) -> None:
    """A case dated 2199-12-31 is rejected with a clear error; the watermark stays sane."""
    future = dict(VALID[0], updated_at="2199-12-31T00:00:00+00:00")
    with hostile_server({"/v1/cases": page([future, *VALID[1:]])}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    assert outcome.evil.ok, outcome.evil.errors
    assert outcome.evil.rejected == 1
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        mark = session.get(Provider, "evil").cases_watermark  # type: ignore[union-attr]
        (row,) = session.scalars(
            select(RejectedPayload).where(RejectedPayload.provider_id == "evil")
        )
    engine.dispose()
    assert mark is not None
    assert mark == max(datetime.fromisoformat(c["updated_at"]) for c in VALID[1:])
    assert mark < datetime.now(UTC)
    assert "updated_at 2199-12-31T00:00:00+00:00 is more than 300 s ahead" in row.errors[0]
    figures.add("hostile_provider", faults_injected=1, runs=2, records_lost=0)
    figures.row("hostile_provider", "one case with updated_at 2199-12-31",
                seconds=round(outcome.seconds, 2), peak_mib=round(outcome.peak_mib, 1),
                outcome="case rejected; watermark the newest valid case")  # fmt: skip


def test_echoed_tokens_are_redacted_everywhere(
    sqlite_url: str,
    good: ReferenceServer,
    figures: Figures,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its own token and another provider's, echoed raw or JSON-escaped in a problem detail and
    in case fields, reach no stored row, log line, report or error."""
    other = "other-Provider-T0ken-77"
    monkeypatch.setenv("VAHTI_OTHER_TOKEN", other)
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN)
    body = json.dumps(
        {
            "items": [
                dict(VALID[0], notes=f"Bearer {TOKEN}"),
                dict(VALID[1], notes="@@"),
                dict(VALID[2], case_url=f"https://crm.example.fi/{other}", office_id=TOKEN),
                *VALID[3:],
            ],
            "next_cursor": None,
        }
    ).replace('"@@"', f'"token: {escaped}"')
    problem = json.dumps({"title": "Bad Request", "detail": f"token {TOKEN} / {other} refused"})
    routes = {
        "/v1/cases": respond(200, body.encode()),
        "/v1/audits": respond(400, problem.encode()),
    }
    caplog.set_level(logging.DEBUG)
    with hostile_server(routes) as (server, _):
        settings = make_settings(
            sqlite_url,
            [
                provider_settings("evil", server.url, **HOSTILE),
                provider_settings("good", good.url),
                provider_settings(
                    "other", "https://127.0.0.1:9", token_env="VAHTI_OTHER_TOKEN", max_attempts=1
                ),
            ],
        )
        tracemalloc.start()
        started = time.perf_counter()
        try:
            evil, healthy, _ = sync_all(settings, provider_ids=["evil", "good", "other"])
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / MIB
        finally:
            tracemalloc.stop()
    assert healthy.ok, healthy.errors
    assert any(REDACTED in e and "HTTP 400" in e for e in evil.errors), evil.errors
    outputs = {
        "database": _db_text(sqlite_url),
        "logs": caplog.text,
        "report": json.dumps([r.to_json() for r in (evil, healthy)]),
    }
    assert REDACTED in outputs["database"]
    for where, text in outputs.items():
        for secret in (TOKEN, other, escaped):
            assert secret not in text, f"{secret[:6]}... in {where}"
    # the case whose office_id was the token is rejected: "[redacted]" is no office id
    assert _count(sqlite_url, Case, "evil") == len(VALID) - 1
    figures.add("hostile_provider", faults_injected=3, runs=2, records_lost=0)
    figures.row("hostile_provider", "tokens echoed (problem detail, case fields, escaped)",
                seconds=round(seconds, 2), peak_mib=round(peak, 1),
                outcome="[redacted] everywhere")  # fmt: skip


def test_unexpected_exception_from_one_provider_is_recorded_not_raised(
    sqlite_url: str, good: ReferenceServer, figures: Figures, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug one provider's data finds is that collection's recorded error; the run is failed,
    never left running, and the next provider syncs."""
    validate = providers.sync._VALIDATORS["cases"]

    def broken(items: list[Any]) -> Any:
        if any(isinstance(i, dict) and i.get("notes") == "boom" for i in items):
            raise RuntimeError("validator bug")
        return validate(items)

    monkeypatch.setitem(providers.sync._VALIDATORS, "cases", broken)
    with hostile_server({"/v1/cases": page([dict(VALID[0], notes="boom")])}) as (server, _):
        outcome = _sync(sqlite_url, server.url, good)
    _isolated(outcome, figures, "an unexpected exception in one provider's sync",
              "unexpected RuntimeError: validator bug", seconds=5.0)  # fmt: skip
