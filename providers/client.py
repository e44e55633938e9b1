"""The httpx client for one provider's Case API v1.

One :class:`ProviderClient` per provider: its own connection pool, explicit timeouts,
the bearer token, TLS verification on (switching it off is explicit and logged).

Retries: only transient failures are retried, with exponential backoff and full jitter,
up to ``max_attempts`` calls in all: transport errors (connect/read timeouts, dropped
connections, protocol errors), 408, 429 and 5xx. ``Retry-After`` (seconds or an HTTP
date) is honoured, capped at :data:`MAX_RETRY_AFTER`. 401, 403 and every other 4xx are
never retried (:class:`PermanentProviderError`). A body that is not the expected JSON
(malformed, empty, wrong shape) is treated as transient - a proxy or a half-written
response - and becomes a :class:`PermanentProviderError` once the attempts are used up.

Errors name the provider, the URL without its query string or credentials, and the
HTTP status, plus the problem+json ``title``/``detail`` when the provider sent one.
Logs go to the ``vahti.providers`` logger and never contain the token.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Literal, Self

import certifi
import httpx
import orjson
from pydantic import ValidationError

from contract.payloads import HealthPayload, PagePayload
from core.config import ProviderSettings
from core.errors import PermanentProviderError, ProviderError, TransientProviderError

log = logging.getLogger("vahti.providers")

PagedCollection = Literal["cases", "audits"]
MAX_RETRY_AFTER = 60.0  # seconds: a provider cannot park Vahti for longer per attempt
BACKOFF_BASE = 0.5  # seconds
BACKOFF_CAP = 30.0  # seconds
_TRANSIENT_STATUS = frozenset({408, 429})
_warned_insecure: set[str] = set()


class _MalformedBodyError(TransientProviderError):
    """A 2xx response whose body is not the expected JSON (retried, then permanent)."""

    def __init__(self, detail: str, *, provider: str, url: str, status: int) -> None:
        super().__init__(detail, provider=provider, url=url, status=status)
        self.detail = detail


@functools.cache
def verified_tls() -> ssl.SSLContext:
    """The process's TLS context: certificates and host names verified (certifi's CAs).

    Built once: loading the CA bundle is slow, and a compliance check opens one
    client per provider. An ``SSLContext`` is safe to share between connections.
    """
    return ssl.create_default_context(cafile=certifi.where())


#: Digits as b"1", every other byte as b"0": a run of 19 ones is 19 digits in a row, maybe
#: an integer past 64 bits, which orjson would read as a float (faster than a regex).
_DIGITS = bytes(49 if 48 <= byte <= 57 else 48 for byte in range(256))
_LONG_RUN = b"1" * 19


def parse_json(content: bytes) -> tuple[Any, bool]:
    """The body as JSON, and whether it was read *strictly* (by orjson, the faster one).

    A strict result holds only what JSON itself can say exactly: no NaN or Infinity,
    no lone surrogates (orjson refuses those) and no integers past 64 bits (orjson
    would round them to floats: bodies with a long digit run go to ``json`` instead).
    Everything else is read by ``json`` as before, so a provider's quirks are seen
    and validated the same way. Only a strict value may be written back with orjson
    without losing anything (``models.store.canonical``).
    """
    if content.translate(_DIGITS).find(_LONG_RUN) < 0:
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            pass
    return json.loads(content), False


@functools.cache
def _user_agent() -> str:
    """``vahti/<version>`` (read from the installed metadata once per process)."""
    try:
        return f"vahti/{version('vahti')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "vahti/0"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a collection: raw items (validated later, one by one)."""

    collection: str
    number: int  # 1-based
    items: list[Any]
    next_cursor: str | None
    strict: bool = False  # read by orjson: see parse_json


def _safe_url(url: httpx.URL) -> str:
    """The URL without query string, fragment or credentials."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


def _problem(response: httpx.Response) -> str:
    """The problem+json title and detail, or a short excerpt of another body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        text = response.text.strip().replace("\n", " ")
        return text[:200] if text else response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
        if parts:
            return ": ".join(parts)[:500]
    return response.reason_phrase


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


def _retry_after(response: httpx.Response, now: Callable[[], float]) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class ProviderClient:
    """Talks to one provider; use as a context manager so its pool is closed."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        token: str,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._now = now
        if not settings.verify_tls and settings.id not in _warned_insecure:
            _warned_insecure.add(settings.id)
            log.warning(
                "provider %r: TLS certificate verification is OFF (verify_tls = false)",
                settings.id,
            )
        timeout = settings.timeout_seconds
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": _user_agent(),
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0), pool=timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            verify=verified_tls() if settings.verify_tls else False,
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # no proxy or netrc surprises: the config says where to go
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @property
    def provider_id(self) -> str:
        """The configured provider id."""
        return self.settings.id

    def iter_pages(
        self,
        collection: PagedCollection,
        *,
        updated_since: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Page]:
        """Yield the collection page by page, following cursors up to ``max_pages``."""
        params: dict[str, str | int] = {"limit": limit or self.settings.page_size}
        if updated_since is not None:
            params["updated_since"] = updated_since
        seen: set[str] = set()
        path = f"/v1/{collection}"
        for number in range(1, self.settings.max_pages + 1):
            body, strict = self._get_json(path, params, expect="page")
            try:
                page = PagePayload.model_validate(body)
            except ValidationError as exc:
                raise self._permanent(path, f"not a page: {_first_error(exc)}", 200) from None
            yield Page(collection, number, page.items, page.next_cursor, strict)
            cursor = page.next_cursor
            if cursor is None:
                return
            if cursor in seen:
                raise self._permanent(path, f"cursor {cursor[:80]!r} repeats: paging would loop")
            seen.add(cursor)
            params["cursor"] = cursor
        raise self._permanent(
            path,
            f"paging did not end after max_pages={self.settings.max_pages} pages "
            f"(last cursor {str(params.get('cursor'))[:80]!r})",
        )

    def get_case(self, case_ref: str) -> dict[str, Any] | None:
        """One case's raw JSON, or None when the provider does not know it (404)."""
        path = f"/v1/cases/{case_ref}"
        try:
            body, _ = self._get_json(path, {}, expect="object")
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(body)

    def get_staff(self) -> list[Any]:
        """The provider's staff list (raw items)."""
        body, _ = self._get_json("/v1/staff", {}, expect="page")
        try:
            return PagePayload.model_validate(body).items
        except ValidationError as exc:
            raise self._permanent("/v1/staff", f"not a list: {_first_error(exc)}", 200) from None

    def health(self) -> HealthPayload:
        """The provider's health document."""
        body, _ = self._get_json("/v1/health", {}, expect="object")
        try:
            return HealthPayload.model_validate(body)
        except ValidationError as exc:
            raise self._permanent(
                "/v1/health", f"unexpected health document: {_first_error(exc)}", 200
            ) from None

    # -- one request with retries -------------------------------------------------

    def _url(self, path: str) -> str:
        """The URL of ``path`` under the base URL, without query or credentials."""
        return _safe_url(httpx.URL(str(self._http.base_url).rstrip("/") + path))

    def _permanent(self, path: str, message: str, status: int | None = None) -> ProviderError:
        url = self._url(path)
        return PermanentProviderError(message, provider=self.provider_id, url=url, status=status)

    def _get_json(
        self, path: str, params: dict[str, str | int], *, expect: Literal["page", "object"]
    ) -> tuple[Any, bool]:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(path, params, expect)
            except TransientProviderError as exc:
                if attempt == attempts:
                    if isinstance(exc, _MalformedBodyError):
                        raise self._permanent(
                            path, f"{exc.detail} (in all {attempts} attempts)", exc.status
                        ) from exc
                    raise
                delay = self._delay(attempt, exc.retry_after)
                log.warning(
                    "attempt %d/%d failed, retrying in %.1f s: %s", attempt, attempts, delay, exc
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))

    def _fetch(self, path: str, params: dict[str, str | int]) -> tuple[httpx.Response, bytes]:
        """The response (headers, and the body of an error) and a success's body bytes.

        A successful body is read from the stream and never kept on the response: httpx
        responses sit in reference cycles, so a page body cached on one would live until
        the next full garbage collection (megabytes a page, a page per provider).
        """
        with self._http.stream("GET", path, params=params) as response:
            if response.status_code >= 300:
                response.read()  # a small problem+json, read by _problem()
                return response, response.content
            return response, b"".join(response.iter_bytes())

    def _attempt(self, path: str, params: dict[str, str | int], expect: str) -> tuple[Any, bool]:
        url = self._url(path)
        provider = self.provider_id
        try:
            response, content = self._fetch(path, params)
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise TransientProviderError(f"{kind}: {exc}", provider=provider, url=url) from exc
        status = response.status_code
        if status in _TRANSIENT_STATUS or status >= 500:
            raise TransientProviderError(
                _problem(response),
                provider=provider,
                url=url,
                status=status,
                retry_after=_retry_after(response, self._now),
            )
        if status >= 300:
            raise PermanentProviderError(
                _problem(response), provider=provider, url=url, status=status
            )
        try:
            body, strict = parse_json(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            detail = "empty body" if not content else f"malformed JSON: {exc}"
            raise _MalformedBodyError(detail, provider=provider, url=url, status=status) from exc
        except RecursionError as exc:  # hostile nesting must not take the whole run down
            detail = f"JSON nested too deeply to read ({len(content)} bytes)"
            raise _MalformedBodyError(detail, provider=provider, url=url, status=status) from exc
        if not isinstance(body, dict) or (
            expect == "page" and not isinstance(body.get("items"), list)
        ):
            shape = type(body).__name__
            raise _MalformedBodyError(
                f"unexpected JSON shape ({shape}, expected an object"
                + (' with an "items" list)' if expect == "page" else ")"),
                provider=provider,
                url=url,
                status=status,
            )
        return body, strict
