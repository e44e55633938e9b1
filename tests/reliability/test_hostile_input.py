"""Hostile provider input never crashes a run: bad items are rejected, good ones all stored.

Pages are served through ``httpx.MockTransport`` to the real sync (validation, the
store, SQLite) and, for the large ones, by a real reference-style server on loopback.
Hypothesis mixes good cases with hostile items: wrong types, huge strings, deep
nesting, control characters (NUL included), identity codes in every free-text field,
dates in year 1 or 9999, duplicate references.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session

import rules
from contract.hetu import contains_identity_code, withhold
from models import reads
from models.db import make_engine
from models.provider_data import Case, RejectedPayload
from models.schema import ensure_schema
from models.store import canonical_json, content_hash
from providers.sync import sync_provider
from reference.generator import generate_dataset
from tests.reliability.conftest import Figures, RetryLog, make_settings, provider_settings

IDENTITY_CODE = "131052-308T"  # a well-formed Finnish identity code (synthetic)
TODAY = date(2026, 4, 1)
DATASET = generate_dataset(cases=12, seed=5, today=TODAY)
GOOD = [DATASET.case_dict(i) for i in range(len(DATASET))]
FREE_TEXT = ("case_url", "notes", "office_id", "coach_id", "comment", "case_ref")
DATE_FIELDS = ("decision_received_on", "first_meeting_on", "ended_on", "updated_at")
_ids = itertools.count()

pytestmark = pytest.mark.usefixtures("set_provider_token")


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


_control = st.text(
    alphabet=st.sampled_from(["\x00", "\x01", "\x1b", "\u202e", "\ud800", "a", "ä", "\n"]),
    min_size=1,
    max_size=20,
)
_hostile_value = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    _control,
    st.integers(10_000, 200_000).map(lambda n: "x" * n),
    st.integers(20, 300).map(_nested),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(["0001-01-01", "9999-12-31", "0001-01-01T00:00:00+00:00",
                     "9999-12-31T23:59:59-05:00", "2026-02-30", ""]),
)  # fmt: skip


@st.composite
def hostile_case(draw: st.DrawFn) -> tuple[str, object]:
    """(kind, item): an item broken in one way, with a ref no good case has."""
    kind = draw(st.sampled_from(["not-a-dict", "field", "identity-code", "date", "control"]))
    if kind == "not-a-dict":
        return kind, draw(st.one_of(st.integers(), st.text(max_size=30), st.none(),
                                    st.lists(st.integers(), max_size=3)))  # fmt: skip
    item = copy.deepcopy(draw(st.sampled_from(GOOD)))
    item["case_ref"] = f"X-{next(_ids)}"
    if kind == "field":
        item[draw(st.sampled_from(sorted(item)))] = draw(_hostile_value)
    elif kind == "identity-code":
        name = draw(st.sampled_from(FREE_TEXT))
        text = draw(st.text(max_size=10))
        item[name] = f"{text} {IDENTITY_CODE} {text}" if name != "case_ref" else IDENTITY_CODE
    elif kind == "date":
        item[draw(st.sampled_from(DATE_FIELDS))] = draw(
            st.sampled_from(
                [
                    "0001-01-01",
                    "9999-12-31",
                    "0001-01-01T00:00:00+00:00",
                    "9999-12-31T23:59:59-05:00",
                ]
            )
        )
    else:
        item[draw(st.sampled_from(["case_url", "notes"]))] = draw(_control)
    return kind, item


def _transport(cases: list[object], audits: list[object] | None = None) -> httpx.MockTransport:
    body = {
        "/v1/cases": {"items": cases, "next_cursor": None},
        "/v1/audits": {"items": audits if audits is not None else DATASET.audits[:3]},
        "/v1/staff": {"items": DATASET.staff},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        content = json.dumps(body[request.url.path]).encode()
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    return httpx.MockTransport(handler)


def _stored(engine: Engine, pid: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    with Session(engine) as session:
        query = select(Case.case_ref, Case.content_hash).where(Case.provider_id == pid)
        cases = {str(ref): str(digest) for ref, digest in session.execute(query).all()}
        rejected = {
            r.content_hash: list(r.errors)
            for r in session.scalars(
                select(RejectedPayload).where(RejectedPayload.provider_id == pid)
            )
        }
    return cases, rejected


def _evaluate(engine: Engine, pid: str) -> None:
    with Session(engine) as session:
        rules.evaluate(
            reads.load_cases(session=session, provider_id=pid, today=TODAY),
            reads.load_audits(session=session, provider_id=pid),
            reads.load_coaches(session=session, provider_id=pid),
            None,
            TODAY,
            rules.FinnishCalendar(),
            provider_id=pid,
        )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """One migrated SQLite database for the whole hypothesis run (a provider id per example)."""
    created = make_engine(f"sqlite:///{tmp_path / 'hostile.db'}")
    ensure_schema(created)
    return created


def _sync(engine: Engine, pid: str, transport: httpx.MockTransport, url: str) -> Any:
    settings = make_settings(url, [provider_settings(pid, "http://127.0.0.1:9")])
    return sync_provider(settings, pid, transport=transport, engine=engine)


def test_hypothesis_hostile_pages_never_crash_and_drop_nothing_good(
    engine: Engine, figures: Figures
) -> None:
    """Generated hostile items among good cases: good all stored, bad all rejected with errors."""
    url = str(engine.url)
    bad_seen = 0

    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )
    @given(
        hostile=st.lists(hostile_case(), min_size=1, max_size=6),
        good=st.lists(st.sampled_from(range(len(GOOD))), min_size=1, max_size=6, unique=True),
        duplicate=st.booleans(),
        order=st.randoms(use_true_random=False),
    )
    def run(
        hostile: list[tuple[str, object]], good: list[int], duplicate: bool, order: Any
    ) -> None:
        nonlocal bad_seen
        pid = f"h{next(_ids)}"
        items: list[object] = [item for _, item in hostile] + [GOOD[i] for i in good]
        if duplicate and isinstance(hostile[0][1], dict):
            twin = dict(hostile[0][1])
            twin["language"] = "sv" if twin.get("language") != "sv" else "fi"
            items.append(twin)
        order.shuffle(items)
        report = _sync(engine, pid, _transport(items), url)
        assert report.collections["cases"].fetched == len(items)
        assert not [e for e in report.errors if e.startswith("cases")], report.errors
        cases, rejected = _stored(engine, pid)
        for i in good:
            assert cases.get(GOOD[i]["case_ref"]) == content_hash(canonical_json(GOOD[i]))
        for kind, item in hostile:
            digest = content_hash(canonical_json(item))
            kept = content_hash(withhold(canonical_json(item)))  # as rejected payloads keep it
            in_cases = digest in cases.values()
            if kind in {"not-a-dict", "identity-code", "date"}:
                assert rejected.get(kept), (kind, str(item)[:200])
            else:
                assert in_cases or kept in rejected, (kind, str(item)[:200])
        for errors in rejected.values():
            assert errors
            assert not any(contains_identity_code(e) for e in errors)
        _evaluate(engine, pid)  # whatever was stored, the engine copes with it
        bad_seen += len(hostile)

    run()
    figures.add("hostile_input", faults_injected=bad_seen, runs=50, records_lost=0)


def test_ten_megabyte_page_is_read_and_the_huge_item_rejected(
    engine: Engine, figures: Figures
) -> None:
    """A 10 MB page: the huge item is rejected with a readable error and only an excerpt of it
    is stored (its size and hash beside it); the good cases are stored."""
    huge = dict(GOOD[0], case_ref="HUGE-1", case_url="https://x.example/" + "a" * 10_000_000)
    report = _sync(engine, "big", _transport([huge, *GOOD[1:]]), str(engine.url))
    assert report.ok, report.errors
    cases, _ = _stored(engine, "big")
    assert set(cases) == {c["case_ref"] for c in GOOD[1:]}
    with Session(engine) as session:
        (row,) = session.scalars(select(RejectedPayload).where(RejectedPayload.ref == "HUGE-1"))
    assert any("max_item_bytes=262144" in e for e in row.errors), row.errors
    assert all(len(e) < 1000 for e in row.errors)
    stored = json.loads(row.raw)
    assert stored["bytes"] > 10_000_000
    assert len(stored["sha256"]) == 64
    assert len(row.raw) < 4096
    figures.add("hostile_input", faults_injected=1, runs=1, records_lost=0)


def test_deeply_nested_page_is_a_recorded_error_not_a_crash(
    engine: Engine, figures: Figures, retries: RetryLog
) -> None:
    """A page nested 100 000 deep is a readable error, not a crash; audits still sync."""
    deep = ("[" * 100_000 + "]" * 100_000).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/cases":
            return httpx.Response(200, content=b'{"items": ' + deep + b"}")
        return _transport([]).handle_request(request)

    report = _sync(engine, "deep", httpx.MockTransport(handler), str(engine.url))
    assert any("nested too deeply" in e for e in report.errors), report.errors
    assert report.collections["audits"].stored == len(DATASET.audits[:3]) > 0
    figures.add("hostile_input", faults_injected=1, runs=1, records_lost=0)


@pytest.mark.parametrize("when", ["0001-01-01", "9999-12-31"])
def test_dates_at_the_ends_of_the_calendar_are_rejected_and_evaluation_survives(
    engine: Engine, when: str
) -> None:
    """Year 1 and year 9999 dates are rejected (they overflowed the engine's date arithmetic)."""
    pid = f"y{when[:4]}"
    odd = dict(GOOD[0], case_ref="Y-1", decision_received_on=when)
    odd_stamp = dict(GOOD[1], case_ref="Y-2", updated_at=f"{when}T12:00:00+00:00")
    report = _sync(engine, pid, _transport([odd, odd_stamp, GOOD[2]]), str(engine.url))
    assert report.ok, report.errors
    cases, rejected = _stored(engine, pid)
    assert set(cases) == {GOOD[2]["case_ref"]}
    for item in (odd, odd_stamp):
        assert any(
            "outside the supported range" in e for e in rejected[content_hash(canonical_json(item))]
        )
    _evaluate(engine, pid)


def test_identity_codes_in_pages_never_reach_errors_or_logs(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """An identity code in any field is rejected and never echoed in errors or log lines."""
    items: list[object] = [
        dict(GOOD[0], case_ref=f"I-{name}", **{name: f"asiakas {IDENTITY_CODE}"})
        for name in FREE_TEXT
        if name != "case_ref"
    ]
    items.append(dict(GOOD[0], case_ref=IDENTITY_CODE))
    caplog.set_level("DEBUG")
    report = _sync(engine, "hetu", _transport(items), str(engine.url))
    assert report.ok, report.errors
    cases, rejected = _stored(engine, "hetu")
    assert cases == {}
    assert len(rejected) == len(items)
    with Session(engine) as session:
        refs = [r.ref or "" for r in session.scalars(select(RejectedPayload))]
    assert not any(IDENTITY_CODE in text for text in refs)
    assert IDENTITY_CODE not in caplog.text
    assert not any(IDENTITY_CODE in e for errors in rejected.values() for e in errors)


def test_lone_surrogate_in_an_ignored_field_is_rejected_and_evaluation_survives(
    engine: Engine,
) -> None:
    """A lone surrogate in a field the payload ignores is rejected (it broke reading the store)."""
    odd = dict(GOOD[0], case_ref="S-1", notes="a\ud800b")
    report = _sync(engine, "surrogate", _transport([odd, GOOD[1]]), str(engine.url))
    assert report.ok, report.errors
    cases, rejected = _stored(engine, "surrogate")
    assert set(cases) == {GOOD[1]["case_ref"]}
    assert content_hash(canonical_json(odd)) in rejected
    _evaluate(engine, "surrogate")
