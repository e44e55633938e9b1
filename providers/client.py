"""The httpx client for one provider's Case API v1.

One :class:`ProviderClient` per provider: its own connection pool, explicit timeouts,
the bearer token, TLS verification on (switching it off is explicit and logged).

Retries: only transient failures are retried, with exponential backoff and full jitter,
up to ``max_attempts`` calls in all: transport errors (connect/read timeouts, dropped
connections, protocol errors), 408, 429 and 5xx. ``Retry-After`` (seconds or an HTTP
date) is honoured up to ``retry_after_max_seconds``; a longer one means "provider
unavailable", a transient error at once, without waiting. 401, 403 and every other 4xx are
never retried (:class:`PermanentProviderError`). A body that is not the expected JSON
(malformed, empty, wrong shape) is treated as transient - a proxy or a half-written
response - and becomes a :class:`PermanentProviderError` once the attempts are used up.

Bounds (provider-api.md, "Limits"; each a ``ProviderSettings`` field, see docs/sync.md):
a whole request ends after ``request_timeout_seconds`` (checked between reads, so a
provider trickling bytes cannot hold a request open); a body is decompressed here, in
steps, and given up past ``max_body_bytes``; a page with more items than the ``limit``
asked, or a ``next_cursor`` longer than ``max_cursor_chars``, is a contract error; an item
larger than ``max_item_bytes`` as JSON, or holding an integer beyond ±2^53, NaN or
Infinity, is refused (:attr:`Page.refused`: the sync rejects it, the page goes on); a
number outside the items is a contract error of the page. With a ``deadline`` (the
sync's time cap) no request starts and no retry waits past it.

Errors name the provider, the URL without its query string or credentials, and the
HTTP status, plus the problem+json ``title``/``detail`` when the provider sent one.
Every known secret is redacted from the provider's bytes before they are parsed, and
from every error text (:class:`core.redact.Redactor`). Logs go to the
``vahti.providers`` logger and never contain the token.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import random
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
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
from core.redact import Redactor

log = logging.getLogger("vahti.providers")

PagedCollection = Literal["cases", "audits"]
#: The largest integer JSON carries exactly across implementations (provider-api.md).
SAFE_INTEGER = 2**53
#: Decompressed bytes produced per step: a compression bomb never inflates at once.
_INFLATE_STEP = 256 * 1024
#: How much of an error response's body is read (a problem+json is small).
_ERROR_BODY_BYTES = 64 * 1024
#: How much of a refused item's JSON is kept as its excerpt.
EXCERPT_CHARS = 1024
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


#: Digits as b"1", every other byte as b"0": a run of 16 ones is 16 digits in a row, maybe
#: an integer past 2^53, which only the exact reader can tell (faster than a regex).
_DIGITS = bytes(49 if 48 <= byte <= 57 else 48 for byte in range(256))
_LONG_RUN = b"1" * 16


class UnsafeNumber(str):
    """A number JSON cannot carry exactly (an integer beyond ±2^53, NaN, Infinity), kept
    as its text (or its digit count): the item holding it is refused, never stored whole."""

    __slots__ = ()


def _exact_int(text: str) -> int | UnsafeNumber:
    if len(text) < 16:
        return int(text)
    digits = len(text.lstrip("-"))
    if digits > 20:
        return UnsafeNumber(f"an integer of {digits} digits")
    value = int(text)
    return value if -SAFE_INTEGER <= value <= SAFE_INTEGER else UnsafeNumber(text)


def _finite_float(text: str) -> float | UnsafeNumber:
    value = float(text)
    return value if math.isfinite(value) else UnsafeNumber(text[:40])


def parse_json(content: bytes) -> tuple[Any, bool]:
    """The body as JSON, and whether it was read *strictly* (by orjson, the faster one).

    A strict result holds only what JSON itself can say exactly: no NaN or Infinity,
    no lone surrogates (orjson refuses those) and no integers past 2^53 (bodies with a
    16-digit run go to ``json`` instead). Everything else is read by ``json``, where a
    number beyond those bounds becomes an :class:`UnsafeNumber` (never a ``ValueError``,
    whatever its length), so the item holding it can be refused. Only a strict value
    may be written back with orjson without losing anything (``models.store.canonical``).
    """
    if content.translate(_DIGITS).find(_LONG_RUN) < 0:
        try:
            return orjson.loads(content), True
        except orjson.JSONDecodeError:
            pass
    value = json.loads(
        content, parse_int=_exact_int, parse_float=_finite_float, parse_constant=UnsafeNumber
    )
    return value, False


def _unsafe_in(value: Any, where: str) -> str | None:
    """Where the first :class:`UnsafeNumber` in ``value`` is, and what it is, or None."""
    if isinstance(value, UnsafeNumber):
        return (
            f"{where or 'value'}: {value[:40]} is not a JSON number Vahti accepts "
            "(integers within ±2^53; no NaN or Infinity)"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unsafe_in(item, f"{where}.{key}" if where else str(key)[:64])
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unsafe_in(item, f"{where}[{index}]")
            if found:
                return found
    return None


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """An item of a page refused before validation: too large, or an unsafe number.

    ``raw`` is what may be stored of it: a bounded excerpt of its JSON with its size and
    SHA-256 (never the item whole); ``refs`` its short top-level strings, to name it.
    """

    raw: dict[str, object]
    error: str
    refs: dict[str, str]


def refuse(item: Any, text: str, error: str) -> RefusedItem:
    refs = (
        {k: v for k, v in item.items() if isinstance(v, str) and len(v) <= 200}
        if isinstance(item, dict)
        else {}
    )
    raw: dict[str, object] = {
        "excerpt": text[:EXCERPT_CHARS],
        "bytes": len(text.encode("utf-8", "surrogatepass")),
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    return RefusedItem(raw, error, refs)


def _item_text(item: Any, strict: bool) -> str:
    if strict:
        return orjson.dumps(item).decode()
    return json.dumps(item, ensure_ascii=False, default=str)


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
    refused: tuple[RefusedItem, ...] = ()  # taken out of items: too large, unsafe numbers


def _safe_url(url: httpx.URL) -> str:
    """The URL without query string, fragment or credentials."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


def _problem(response: httpx.Response, content: bytes) -> str:
    """The problem+json title and detail, or a short excerpt of another body."""
    try:
        body = json.loads(content, parse_int=_exact_int, parse_constant=UnsafeNumber)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        text = content.decode("utf-8", "replace").strip().replace("\n", " ")
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
    return max(0.0, seconds)  # NaN and negatives: at once


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
        monotonic: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
        deadline: float | None = None,
    ) -> None:
        """``redactor``: the secrets to redact (the token is always added); ``deadline``:
        a ``monotonic()`` time no request may start after and no retry may wait past."""
        self.settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._now = now
        self._monotonic = monotonic
        self._redactor = (redactor or Redactor()).with_secret(token)
        self.deadline = deadline
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
                "Accept-Encoding": "gzip, deflate",  # decoded here, in bounded steps
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

    @property
    def base_url(self) -> str:
        """The provider's base URL (without credentials)."""
        return _safe_url(self._http.base_url)

    def redact(self, text: str) -> str:
        """``text`` with every secret this client knows replaced by ``[redacted]``."""
        return self._redactor.text(text)

    def iter_pages(
        self,
        collection: PagedCollection,
        *,
        updated_since: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Page]:
        """Yield the collection page by page, following cursors up to ``max_pages``."""
        asked = limit or self.settings.page_size
        params: dict[str, str | int] = {"limit": asked}
        if updated_since is not None:
            params["updated_since"] = updated_since
        seen: set[str] = set()
        path = f"/v1/{collection}"
        for number in range(1, self.settings.max_pages + 1):
            body, strict, size = self._get_json(path, params, expect="page")
            cursor = body.get("next_cursor")
            if isinstance(cursor, str) and len(cursor) > self.settings.max_cursor_chars:
                raise self._permanent(
                    path,
                    f"page {number}: next_cursor of {len(cursor)} characters is longer than "
                    f"max_cursor_chars={self.settings.max_cursor_chars}",
                    200,
                )
            items = body["items"]
            if len(items) > asked:
                raise self._permanent(
                    path,
                    f"page {number}: {len(items)} items where limit={asked} was asked "
                    "(nothing of the page is stored)",
                    200,
                )
            kept, refused = self._bounded_items(path, body, strict, size)
            try:
                page = PagePayload.model_validate({**body, "items": kept})
            except ValidationError as exc:
                raise self._permanent(path, f"not a page: {_first_error(exc)}", 200) from None
            yield Page(collection, number, page.items, page.next_cursor, strict, refused)
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

    def _bounded_items(
        self, path: str, body: dict[str, Any], strict: bool, size: int
    ) -> tuple[list[Any], tuple[RefusedItem, ...]]:
        """The page's items within the item limits, and the ones refused.

        Sizes are measured only when the page itself is larger than one item may be; unsafe
        numbers exist only in a body the exact reader read (not ``strict``)."""
        items: list[Any] = body["items"]
        limit = self.settings.max_item_bytes
        if not strict:
            outside = _unsafe_in({k: v for k, v in body.items() if k != "items"}, "")
            if outside:
                raise self._permanent(path, f"page: {outside}", 200)
        # A strict page's items are measured by the sync on the text it makes anyway
        # (providers.sync.bounded); a smaller page cannot hold a larger item.
        measure = size > limit and not strict
        if not items or strict:
            return items, ()
        kept: list[Any] = []
        refused: list[RefusedItem] = []
        for index, item in enumerate(items):
            unsafe = None if strict else _unsafe_in(item, "")
            if unsafe is not None:
                text = _item_text(item, strict)
                refused.append(refuse(item, text, f"items[{index}]: {unsafe}"))
                continue
            if measure:
                text = _item_text(item, strict)
                item_size = len(text.encode("utf-8", "surrogatepass"))
                if item_size > limit:
                    error = (
                        f"items[{index}]: the item is {item_size} bytes as JSON, more than "
                        f"max_item_bytes={limit} (an excerpt is kept)"
                    )
                    refused.append(refuse(item, text, error))
                    continue
            kept.append(item)
        return kept, tuple(refused)

    def get_case(self, case_ref: str) -> dict[str, Any] | None:
        """One case's raw JSON, or None when the provider does not know it (404)."""
        path = f"/v1/cases/{case_ref}"
        try:
            body, _, _ = self._get_json(path, {}, expect="object")
        except PermanentProviderError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(body)

    def get_staff(self) -> list[Any]:
        """The provider's staff list (raw items)."""
        return self.staff_page().items

    def staff_page(self) -> Page:
        """The provider's staff list as one page (raw items, and the items refused)."""
        path = "/v1/staff"
        body, strict, size = self._get_json(path, {}, expect="page")
        kept, refused = self._bounded_items(path, body, strict, size)
        try:
            items = PagePayload.model_validate({**body, "items": kept}).items
        except ValidationError as exc:
            raise self._permanent(path, f"not a list: {_first_error(exc)}", 200) from None
        return Page("staff", 1, items, None, strict, refused)

    def health(self) -> HealthPayload:
        """The provider's health document."""
        body, _, _ = self._get_json("/v1/health", {}, expect="object")
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
        return PermanentProviderError(
            self._redactor.text(message), provider=self.provider_id, url=url, status=status
        )

    def _transient(
        self, path: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> TransientProviderError:
        return TransientProviderError(
            self._redactor.text(message),
            provider=self.provider_id,
            url=self._url(path),
            status=status,
            retry_after=retry_after,
        )

    def _left(self) -> float | None:
        """Seconds left before the sync's deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - self._monotonic()

    def _get_json(
        self, path: str, params: dict[str, str | int], *, expect: Literal["page", "object"]
    ) -> tuple[Any, bool, int]:
        """The body as JSON, whether it was read strictly, and its size (decompressed)."""
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            left = self._left()
            if left is not None and left <= 0:
                raise self._transient(
                    path,
                    f"the sync's time cap (sync_timeout_seconds="
                    f"{self.settings.sync_timeout_seconds:g}) has passed; stopped here, "
                    "what was stored stays",
                )
            try:
                return self._attempt(path, params, expect)
            except TransientProviderError as exc:
                if attempt == attempts:
                    if isinstance(exc, _MalformedBodyError):
                        raise self._permanent(
                            path, f"{exc.detail} (in all {attempts} attempts)", exc.status
                        ) from exc
                    raise
                cap = self.settings.retry_after_max_seconds
                if exc.retry_after is not None and exc.retry_after > cap:
                    raise self._transient(
                        path,
                        f"provider unavailable: Retry-After {exc.retry_after:.0f} s is longer "
                        f"than retry_after_max_seconds={cap:g} (not waited for)",
                        exc.status,
                        exc.retry_after,
                    ) from exc
                delay = self._delay(attempt, exc.retry_after)
                left = self._left()
                if left is not None and delay >= left:
                    raise self._transient(
                        path,
                        f"waiting {delay:.1f} s to retry would pass the sync's time cap "
                        f"(sync_timeout_seconds={self.settings.sync_timeout_seconds:g}): {exc}",
                        exc.status,
                    ) from exc
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
        """The response (headers) and its body bytes (an error's cut at a small cap).

        The body is read from the raw stream and decompressed here in steps of at most
        :data:`_INFLATE_STEP` bytes, counted against ``max_body_bytes`` as they come (an
        error body against a small cap, and cut there); the request's whole time against
        ``request_timeout_seconds`` after every read. A successful body is never kept on
        the response: httpx responses sit in reference cycles, so a page body cached on
        one would live until the next full garbage collection.
        """
        started = self._monotonic()
        budget = self.settings.request_timeout_seconds
        with self._http.stream("GET", path, params=params) as response:
            error = response.status_code >= 300
            cap = _ERROR_BODY_BYTES if error else self.settings.max_body_bytes
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            raws: Iterable[bytes]
            inflate: Callable[[bytes], Iterator[bytes]] | None
            if response.is_stream_consumed:  # built in memory (a mock transport): decoded
                raws, inflate = (response.content,), _identity
            else:
                raws, inflate = response.iter_raw(), _inflater(encoding)
            if inflate is None:
                raise self._permanent(
                    path, f"unsupported Content-Encoding {encoding[:40]!r}", response.status_code
                )
            chunks: list[bytes] = []
            size = 0
            for raw in raws:
                for chunk in self._inflated(inflate, raw, path, response.status_code):
                    size += len(chunk)
                    if size > cap:
                        if error:
                            chunks.append(chunk[: len(chunk) - (size - cap)])
                            return response, b"".join(chunks)
                        raise self._permanent(
                            path,
                            f"body larger than max_body_bytes={cap} after decompression "
                            "(given up while reading)",
                            response.status_code,
                        )
                    chunks.append(chunk)
                if self._monotonic() - started > budget:
                    raise self._transient(
                        path,
                        f"no complete response within request_timeout_seconds={budget:g} "
                        f"({size} bytes read)",
                        response.status_code,
                    )
            return response, b"".join(chunks)

    def _inflated(
        self, inflate: Callable[[bytes], Iterator[bytes]], raw: bytes, path: str, status: int
    ) -> Iterator[bytes]:
        try:
            yield from inflate(raw)
        except zlib.error as exc:
            raise _MalformedBodyError(
                f"body does not decompress: {exc}",
                provider=self.provider_id,
                url=self._url(path),
                status=status,
            ) from exc

    def _attempt(
        self, path: str, params: dict[str, str | int], expect: str
    ) -> tuple[Any, bool, int]:
        try:
            response, content = self._fetch(path, params)
        except httpx.TransportError as exc:
            kind = type(exc).__name__
            raise self._transient(path, f"{kind}: {exc}") from exc
        status = response.status_code
        content, rewalk = self._redactor.body(content)
        if status in _TRANSIENT_STATUS or status >= 500:
            raise self._transient(
                path,
                _problem(response, content),
                status,
                _retry_after(response, self._now),
            )
        if status >= 300:
            raise self._permanent(path, _problem(response, content), status)
        return self._parse(content, rewalk, self._url(path), status, expect)

    def _parse(
        self, content: bytes, rewalk: bool, url: str, status: int, expect: str
    ) -> tuple[Any, bool, int]:
        """A successful body as JSON of the expected shape (secrets redacted)."""
        provider = self.provider_id
        try:
            body, strict = parse_json(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            detail = "empty body" if not content else f"malformed JSON: {exc}"
            raise _MalformedBodyError(
                self._redactor.text(detail), provider=provider, url=url, status=status
            ) from exc
        except RecursionError as exc:  # hostile nesting must not take the whole run down
            detail = f"JSON nested too deeply to read ({len(content)} bytes)"
            raise _MalformedBodyError(detail, provider=provider, url=url, status=status) from exc
        if rewalk:  # an escape could spell a secret: redact in the parsed strings too
            body = self._redactor.value(body)
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
        return body, strict, len(content)


def _inflater(encoding: str) -> Callable[[bytes], Iterator[bytes]] | None:
    """A decoder for ``encoding`` that yields at most :data:`_INFLATE_STEP` bytes at a time."""
    if encoding in {"identity", ""}:
        return _identity
    if encoding not in {"gzip", "x-gzip", "deflate"}:
        return None
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header, detected

    def inflate(raw: bytes) -> Iterator[bytes]:
        data = decoder.decompress(raw, _INFLATE_STEP)
        while True:
            if data:
                yield data
            if not decoder.unconsumed_tail:
                return
            data = decoder.decompress(decoder.unconsumed_tail, _INFLATE_STEP)

    return inflate


def _identity(raw: bytes) -> Iterator[bytes]:
    yield raw
