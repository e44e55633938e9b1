"""ProviderClient against httpx.MockTransport: paging, retries, errors without secrets."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from core.config import ProviderSettings
from core.errors import PermanentProviderError, TransientProviderError
from providers.client import ProviderClient

TOKEN = "s3cr3t-token-value"
Handler = Callable[[httpx.Request], httpx.Response]


def settings(**changes: object) -> ProviderSettings:
    base: dict[str, object] = {
        "id": "demo",
        "base_url": "http://127.0.0.1:9",
        "token_env": "VAHTI_TOKEN_DEMO",
        "max_attempts": 4,
        "page_size": 2,
    }
    return ProviderSettings.model_validate({**base, **changes})


class Recorder:
    """A fake sleep that records the delays asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(handler: Handler, sleep: Recorder | None = None, **changes: object) -> ProviderClient:
    return ProviderClient(
        settings(**changes),
        token=TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=sleep or Recorder(),
        rng=random.Random(1),
        now=lambda: datetime(2025, 5, 2, 12, 0, tzinfo=UTC).timestamp(),
    )


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def page(items: list[object], cursor: str | None = None) -> httpx.Response:
    return httpx.Response(200, json={"items": items, "next_cursor": cursor})


def test_pages_follow_the_cursor_with_auth_and_user_agent() -> None:
    """iter_pages sends bearer, UA, limit and updated_since, and follows cursors to the end."""
    handler, seen = sequence(page([{"a": 1}, {"a": 2}], "c2"), page([{"a": 3}]))
    with client(handler) as api:
        pages = list(api.iter_pages("cases", updated_since="2025-04-14T12:00:00+00:00"))
    assert [p.items for p in pages] == [[{"a": 1}, {"a": 2}], [{"a": 3}]]
    assert [p.number for p in pages] == [1, 2]
    first, second = seen
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["User-Agent"].startswith("vahti/")
    assert first.url.params["limit"] == "2"
    assert first.url.params["updated_since"] == "2025-04-14T12:00:00+00:00"
    assert "cursor" not in first.url.params
    assert second.url.params["cursor"] == "c2"


def test_429_honours_retry_after_seconds_and_http_date() -> None:
    """Retry-After in seconds or as an HTTP date sets the delay, up to the cap itself."""
    when = format_datetime(datetime(2025, 5, 2, 12, 0, 7, tzinfo=UTC), usegmt=True)
    handler, seen = sequence(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": when}),
        httpx.Response(429, headers={"Retry-After": "300"}),
        page([]),
    )
    sleep = Recorder()
    with client(handler, sleep) as api:
        assert [p.items for p in api.iter_pages("audits")] == [[]]
    assert sleep.delays == [3.0, 7.0, 300.0]
    assert len(seen) == 4


def test_retry_after_beyond_the_cap_is_provider_unavailable_at_once() -> None:
    """A Retry-After longer than retry_after_max_seconds is a transient error, never waited."""
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "1000000000"}))
    sleep = Recorder()
    with client(handler, sleep) as api, pytest.raises(TransientProviderError) as caught:
        list(api.iter_pages("cases"))
    assert "provider unavailable: Retry-After 1000000000 s" in str(caught.value)
    assert "retry_after_max_seconds=300" in str(caught.value)
    assert sleep.delays == []
    assert len(seen) == 1


def test_503_and_transport_errors_are_retried_with_jittered_backoff() -> None:
    """5xx and transport errors are retried; delays grow within the full-jitter bounds."""
    request = httpx.Request("GET", "http://127.0.0.1:9/v1/staff")
    handler, seen = sequence(
        httpx.Response(503),
        httpx.ConnectError("refused", request=request),
        httpx.RemoteProtocolError("peer closed connection", request=request),
        page([{"id": "c-1"}]),
    )
    sleep = Recorder()
    with client(handler, sleep) as api:
        assert api.get_staff() == [{"id": "c-1"}]
    assert len(seen) == 4
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays, start=1):
        assert 0.0 <= delay <= 0.5 * 2 ** (attempt - 1)


def test_transient_errors_give_up_after_max_attempts() -> None:
    """After max_attempts 500s the TransientProviderError names provider, URL and status."""
    handler, seen = sequence(
        *[
            httpx.Response(
                500,
                json={"title": "Internal error", "detail": "database down"},
                headers={"Content-Type": "application/problem+json"},
            )
        ]
        * 4
    )
    with client(handler) as api, pytest.raises(TransientProviderError) as caught:
        list(api.iter_pages("cases", updated_since="2025-01-01T00:00:00+00:00"))
    message = str(caught.value)
    assert len(seen) == 4
    assert caught.value.status == 500
    assert "provider 'demo'" in message
    assert "http://127.0.0.1:9/v1/cases" in message
    assert "HTTP 500" in message
    assert "Internal error: database down" in message
    assert "updated_since" not in message
    assert TOKEN not in message


@pytest.mark.parametrize("status", [401, 403, 404, 400, 422])
def test_client_errors_are_never_retried(status: int) -> None:
    """401, 403 and other 4xx fail at once with a PermanentProviderError."""
    handler, seen = sequence(
        httpx.Response(status, json={"title": "Nope", "detail": f"status {status}"})
    )
    sleep = Recorder()
    with client(handler, sleep) as api, pytest.raises(PermanentProviderError) as caught:
        list(api.iter_pages("cases"))
    assert len(seen) == 1
    assert sleep.delays == []
    assert caught.value.status == status
    assert f"HTTP {status}: Nope: status {status}" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [(b"{not json", "malformed JSON"), (b"", "empty body"), (b"[1, 2]", "unexpected JSON shape")],
)
def test_bad_bodies_are_retried_then_permanent(body: bytes, detail: str) -> None:
    """A malformed, empty or wrongly shaped body is retried, then a permanent error."""
    handler, seen = sequence(*[httpx.Response(200, content=body)] * 4)
    with client(handler) as api, pytest.raises(PermanentProviderError, match=detail) as caught:
        list(api.iter_pages("cases"))
    assert len(seen) == 4
    assert "in all 4 attempts" in str(caught.value)


def test_a_bad_body_then_a_good_one_succeeds() -> None:
    """One malformed response is only a retry."""
    handler, _ = sequence(httpx.Response(200, content=b"{"), page([{"x": 1}]))
    with client(handler) as api:
        assert [p.items for p in api.iter_pages("cases")] == [[{"x": 1}]]


def test_endless_cursor_is_bounded_by_max_pages() -> None:
    """A cursor that never ends stops at max_pages with an error naming the cursor."""
    counter = iter(range(1000))

    def handler(request: httpx.Request) -> httpx.Response:
        del request
        return page([], f"next-{next(counter)}")

    with client(handler, max_pages=5) as api, pytest.raises(PermanentProviderError) as caught:
        list(api.iter_pages("cases"))
    assert "max_pages=5" in str(caught.value)
    assert "next-4" in str(caught.value)


def test_repeated_cursor_is_a_contract_error() -> None:
    """A cursor seen before would loop forever: stop at once."""
    handler, seen = sequence(page([], "same"), page([], "same"))
    with client(handler) as api, pytest.raises(PermanentProviderError, match="repeats"):
        list(api.iter_pages("cases"))
    assert len(seen) == 2


def test_get_case_404_is_none_and_health_parses() -> None:
    """get_case answers None for an unknown ref; health() validates the document."""
    handler, seen = sequence(
        httpx.Response(404, json={"title": "Not found"}),
        httpx.Response(200, json={"case_ref": "TK-1"}),
        httpx.Response(200, json={"status": "ok", "api_version": "1"}),
    )
    with client(handler) as api:
        assert api.get_case("TK-404") is None
        assert api.get_case("TK-1") == {"case_ref": "TK-1"}
        assert api.health().status == "ok"
    assert seen[0].url.path == "/v1/cases/TK-404"


def test_insecure_tls_is_logged_once_and_token_never(caplog: pytest.LogCaptureFixture) -> None:
    """verify_tls=false warns once per provider; retry logs never contain the token."""
    handler, _ = sequence(httpx.Response(503), page([]))
    caplog.set_level(logging.DEBUG, logger="vahti.providers")
    with client(handler, id="insecure", base_url="https://p.example", verify_tls=False) as api:
        list(api.iter_pages("cases"))
    with client(handler, id="insecure", base_url="https://p.example", verify_tls=False):
        pass
    warnings = [r for r in caplog.records if "TLS certificate verification is OFF" in r.message]
    assert len(warnings) == 1
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_a_page_body_is_not_kept_on_the_response() -> None:
    """The body is read from the stream: the response (in reference cycles) keeps no copy."""
    body = b'{"items": [{"a": 1}], "next_cursor": null}'

    def handler(request: httpx.Request) -> httpx.Response:
        del request
        return httpx.Response(200, stream=httpx.ByteStream(body))

    with client(handler) as api:
        response, content = api._fetch("/v1/cases", {"limit": 1})
    assert content == body
    with pytest.raises(httpx.ResponseNotRead):
        _ = response.content
