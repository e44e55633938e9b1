"""The reference Provider Case API v1 server (FastAPI), over one or many synthetic datasets.

One dataset is served at ``/v1/...`` and at ``/{provider_id}/v1/...``; several datasets
only under their prefix, so one process can stand in for 200 providers (each provider's
``base_url`` is ``http://HOST:PORT/{provider_id}``). Items are sent as pre-built JSON
bytes; the OpenAPI document still describes them with the ``*Payload`` models.

Paging: items are ordered by (``updated_at``, ``case_ref``/``audit_id``); the opaque
cursor encodes the last item's position, so pages stay stable while items change
(a changed item moves to the end and is served again there). ``updated_since`` is
inclusive. ``python -m reference.server --write-openapi FILE`` regenerates the document.
"""

import base64
import binascii
import json
import math
import re
import secrets
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from contract.payloads import AuditPayload, CasePayload, CoachPayload, HealthPayload
from reference.faults import FaultMiddleware, Faults
from reference.generator import Dataset, Key, SortedKeys, dumps, generate_dataset

API_TITLE = "Provider Case API"
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
_PROBLEM = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemPayload"}
_SPACE_OFFSET = re.compile(r" (\d\d:?\d\d)$")


class ProblemPayload(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class CasePagePayload(BaseModel):
    items: list[CasePayload]
    next_cursor: str | None = None


class AuditPagePayload(BaseModel):
    items: list[AuditPayload]
    next_cursor: str | None = None


class StaffPayload(BaseModel):
    items: list[CoachPayload]


class ProblemError(Exception):
    """Raised inside the app; rendered as application/problem+json."""

    def __init__(
        self, status: int, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def _problem_response(
    status: int, title: str, detail: str, instance: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = ProblemPayload(title=title, status=status, detail=detail, instance=instance)
    return Response(
        body.model_dump_json().encode(), status_code=status, media_type=_PROBLEM, headers=headers
    )


def _problems(description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ProblemPayload, "description": description} for status in statuses}


_COMMON_PROBLEMS = {
    **_problems("Missing or wrong bearer token", 401),
    **_problems("Token valid for another provider", 403),
    **_problems("Rate limited; honour Retry-After", 429),
    **_problems("Transient server error; retry with backoff", 500, 503),
}
_PAGED_PROBLEMS = {**_COMMON_PROBLEMS, **_problems("Bad query parameter or cursor", 400)}


def encode_cursor(collection: str, key: Key) -> str:
    """Opaque cursor for the position just after ``key`` in ``collection``."""
    raw = json.dumps([collection, key[0], key[1], key[2]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(collection: str, cursor: str) -> Key:
    """The position a cursor encodes; ``ProblemError`` 400 when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        name, epoch, ref, position = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise ProblemError(
            400, "Bad Request", f"cursor {cursor[:40]!r} is not a valid cursor"
        ) from error
    if (
        name != collection
        or not isinstance(epoch, int)
        or not isinstance(ref, str)
        or not isinstance(position, int)
    ):
        raise ProblemError(
            400, "Bad Request", f"cursor {cursor[:40]!r} is not a {collection} cursor"
        )
    return epoch, ref, position


def parse_updated_since(text: str) -> int:
    """Smallest whole epoch second at or after the RFC 3339 ``text`` (inclusive filter)."""
    fixed = _SPACE_OFFSET.sub(r"+\1", text.strip())  # an unescaped '+' arrives as a space
    try:
        moment = datetime.fromisoformat(fixed)
    except ValueError:
        raise ProblemError(
            400, "Bad Request", f"updated_since {text!r} is not an RFC 3339 timestamp"
        ) from None
    if moment.tzinfo is None:
        raise ProblemError(400, "Bad Request", f"updated_since {text!r} has no UTC offset")
    return math.ceil(moment.timestamp())


def _page(
    collection: str,
    keys: SortedKeys,
    render: Any,
    *,
    since: str | None,
    cursor: str | None,
    limit: int,
) -> Response:
    after = decode_cursor(collection, cursor) if cursor else None
    since_epoch = parse_updated_since(since) if since is not None else None
    chunk, more = keys.page(since=since_epoch, after=after, limit=limit)
    next_cursor = encode_cursor(collection, chunk[-1]) if more and chunk else None
    body = b"".join(
        (
            b'{"items":[',
            b",".join(render(key[2]) for key in chunk),
            b'],"next_cursor":',
            dumps(next_cursor),
            b"}",
        )
    )
    return Response(body, media_type="application/json")


def _provider(request: Request) -> Dataset:
    by_id: dict[str, Dataset] = request.app.state.datasets
    pid = request.path_params.get("provider_id")
    data = by_id.get(pid) if pid is not None else request.app.state.single
    if data is None:
        what = f"provider {pid[:64]!r}" if pid is not None else "/v1 without a provider prefix"
        raise ProblemError(404, "Not Found", f"{what} is not served here")
    return data


_scheme = HTTPBearer(auto_error=False, description="One token per provider")


def _bearer(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_scheme)]
) -> None:
    data = _provider(request)
    expected: dict[str, bytes] = request.app.state.tokens
    given = credentials.credentials.encode() if credentials is not None else b""
    if secrets.compare_digest(given, expected[data.provider_id]):
        return
    if given and any(secrets.compare_digest(given, other) for other in expected.values()):
        raise ProblemError(
            403, "Forbidden", f"token is not valid for provider {data.provider_id!r}"
        )
    raise ProblemError(
        401,
        "Unauthorized",
        "missing or invalid bearer token",
        {"WWW-Authenticate": 'Bearer realm="provider", error="invalid_token"'},
    )


Since = Annotated[str | None, Query(description="RFC 3339 timestamp; items updated at or after it")]
Cursor = Annotated[str | None, Query(description="Opaque next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1 to 1000)")]
Provider = Annotated[Dataset, Depends(_provider)]


def _routes() -> APIRouter:
    router = APIRouter(dependencies=[Depends(_bearer)])

    @router.get(
        "/v1/cases",
        response_model=CasePagePayload,
        responses=_PAGED_PROBLEMS,
        summary="Cases, paged",
    )
    async def list_cases(
        data: Provider,
        updated_since: Since = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        return _page(
            "cases",
            data.case_keys,
            data.case_bytes,
            since=updated_since,
            cursor=cursor,
            limit=limit,
        )

    @router.get(
        "/v1/cases/{case_ref}",
        response_model=CasePayload,
        responses={**_COMMON_PROBLEMS, **_problems("No such case", 404)},
        summary="One case",
    )
    async def get_case(data: Provider, case_ref: str) -> Response:
        position = data.position_of(case_ref)
        if position is None:
            raise ProblemError(404, "Not Found", f"case {case_ref[:64]!r} does not exist")
        return Response(data.case_bytes(position), media_type="application/json")

    @router.get(
        "/v1/audits",
        response_model=AuditPagePayload,
        responses=_PAGED_PROBLEMS,
        summary="Audits, paged",
    )
    async def list_audits(
        data: Provider,
        updated_since: Since = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response:
        return _page(
            "audits",
            data.audit_keys,
            data.audit_bytes.__getitem__,
            since=updated_since,
            cursor=cursor,
            limit=limit,
        )

    @router.get(
        "/v1/staff", response_model=StaffPayload, responses=_COMMON_PROBLEMS, summary="Coaches"
    )
    async def list_staff(data: Provider) -> Response:
        return Response(data.staff_bytes, media_type="application/json")

    @router.get(
        "/v1/health", response_model=HealthPayload, responses=_COMMON_PROBLEMS, summary="Health"
    )
    async def health(data: Provider) -> Response:
        del data
        return Response(b'{"status":"ok","api_version":"1"}', media_type="application/json")

    @router.post("/_admin/touch", include_in_schema=False)
    async def touch(
        data: Provider,
        share: Annotated[float, Query(ge=0, le=1)],
        seed: int = 0,
        now: str | None = None,
    ) -> Response:
        if now is not None:
            moment = datetime.fromtimestamp(parse_updated_since(now), UTC)
        else:  # one second after the newest item: no wall clock needed
            moment = datetime.fromtimestamp(data.case_keys.keys[-1][0] + 1 if len(data) else 0, UTC)
        refs = data.touch(share, seed, moment)
        return Response(
            dumps({"touched": len(refs), "updated_at": moment.isoformat()}),
            media_type="application/json",
        )

    return router


def create_app(
    datasets: Mapping[str, Dataset] | Dataset,
    *,
    token: str,
    faults: Faults | None = None,
    tokens: Mapping[str, str] | None = None,
) -> FastAPI:
    """The reference server; ``tokens`` (per provider id) override ``token`` per provider."""
    by_id = {datasets.provider_id: datasets} if isinstance(datasets, Dataset) else dict(datasets)
    app = FastAPI(
        title=API_TITLE,
        version="1",
        description=(__doc__ or "").split("\n\n")[0],
        docs_url=None,
        redoc_url=None,
    )
    app.state.datasets = by_id
    app.state.single = next(iter(by_id.values())) if len(by_id) == 1 else None
    app.state.tokens = {pid: (tokens or {}).get(pid, token).encode() for pid in by_id}
    routes = _routes()
    app.include_router(routes)
    app.include_router(routes, prefix="/{provider_id}", include_in_schema=False)
    _install_problem_handlers(app)
    _document_problems_only(app)
    if faults is not None and faults.active:
        app.add_middleware(
            FaultMiddleware, faults=faults, endless_cursor=encode_cursor("cases", (0, "", -1))
        )
    return app


def _document_problems_only(app: FastAPI) -> None:
    """Parameter errors are 400 problems here, so drop FastAPI's default 422 from the document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    for status, response in responses.items():
                        if status[0] in "45":
                            response["content"] = {_PROBLEM: {"schema": _PROBLEM_REF}}
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return _problem_response(exc.status, exc.title, exc.detail, request.url.path, exc.headers)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        return _problem_response(
            exc.status_code, title, str(exc.detail), request.url.path, exc.headers
        )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _problem_response(400, "Bad Request", detail, request.url.path)

    async def on_crash(request: Request, exc: Exception) -> Response:
        del exc
        return _problem_response(
            500, "Internal Server Error", "unexpected server error", request.url.path
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_crash)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of Provider Case API v1 as this code serves it."""
    empty = generate_dataset(cases=0, seed=0, today=date(2025, 1, 1))
    return create_app(empty, token="openapi-only").openapi()  # noqa: S106 - not a secret


def openapi_json() -> str:
    """``openapi_document()`` as the committed file's text."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m reference.server --write-openapi [FILE]`` (default contract/openapi.json)."""
    if not argv or argv[0] != "--write-openapi":
        sys.stderr.write("usage: python -m reference.server --write-openapi [FILE]\n")
        return 2
    target = argv[1] if len(argv) > 1 else "contract/openapi.json"
    with open(target, "w", encoding="utf-8") as handle:  # noqa: PTH123 - a plain CLI path
        handle.write(openapi_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
