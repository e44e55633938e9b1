"""The reference provider on the wire: paging, auth, problems, faults, multi-provider, touch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from reference.faults import Faults
from reference.generator import generate_dataset
from reference.server import openapi_document
from tests.fixtures.provider_server import TODAY, ReferenceServer

PROBLEM = "application/problem+json"


def _pages(client: httpx.Client, path: str, **params: object) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def _client(server: ReferenceServer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.headers, timeout=timeout)


def _order(item: dict) -> tuple:
    return datetime.fromisoformat(item["updated_at"]), item["case_ref"]


def test_paging_returns_every_case_once_in_order(reference_server: ReferenceServer) -> None:
    """Pages of 7 cover all 60 cases exactly once, ordered by (updated_at, case_ref)."""
    with _client(reference_server) as client:
        pages = _pages(client, "/v1/cases", limit=7)
    items = [item for page in pages for item in page]
    assert len(pages) == 9
    assert all(len(page) == 7 for page in pages[:-1])
    assert sorted(i["case_ref"] for i in items) == sorted(reference_server.dataset.refs)
    assert [_order(i) for i in items] == sorted(_order(i) for i in items)


def test_updated_since_is_inclusive(reference_server: ReferenceServer) -> None:
    """updated_since equal to an item's updated_at returns that item and all later ones."""
    with _client(reference_server) as client:
        items = [i for page in _pages(client, "/v1/cases") for i in page]
        pivot = items[30]["updated_at"]
        later = [i for page in _pages(client, "/v1/cases", updated_since=pivot) for i in page]
    assert later[0]["updated_at"] == pivot
    assert later == [i for i in items if _order(i)[0] >= _order(items[30])[0]]


def test_cursor_is_stable_while_cases_change(start_reference_server) -> None:
    """A touch between pages neither skips nor repeats unchanged cases; changed ones come last."""
    server = start_reference_server(cases=50)
    with _client(server) as client:
        first = client.get("/v1/cases", params={"limit": 20}).json()
        touched = client.post("/_admin/touch", params={"share": 0.2, "seed": 1}).json()["touched"]
        rest = _pages(client, "/v1/cases", limit=20, cursor=first["next_cursor"])
    seen = [i["case_ref"] for i in first["items"]] + [i["case_ref"] for p in rest for i in p]
    assert touched == 10
    assert set(seen) == set(server.dataset.refs)
    assert len(seen) - len(set(seen)) <= touched  # touched items may be seen again, at the end


def test_one_case_and_404_problem(reference_server: ReferenceServer) -> None:
    """GET /v1/cases/{ref} returns that case; an unknown ref is a 404 problem."""
    ref = reference_server.dataset.refs[3]
    with _client(reference_server) as client:
        found = client.get(f"/v1/cases/{ref}")
        missing = client.get("/v1/cases/NO-SUCH-REF")
    assert found.json() == reference_server.dataset.cases[3]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["status"] == 404
    assert "NO-SUCH-REF" in missing.json()["detail"]


def test_missing_or_wrong_token_is_401_problem(reference_server: ReferenceServer) -> None:
    """No token and a wrong token both get 401 problem+json with WWW-Authenticate."""
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = httpx.get(f"{reference_server.url}/v1/cases", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "wrong" not in response.text


def test_token_of_another_provider_is_403(start_reference_server) -> None:
    """With per-provider tokens, provider a's token on provider b is 403 problem+json."""
    datasets = {
        p: generate_dataset(cases=5, seed=1, today=TODAY, provider_id=p) for p in ("a", "b")
    }
    server = start_reference_server(datasets=datasets, tokens={"a": "token-a", "b": "token-b"})
    ok = httpx.get(f"{server.url}/a/v1/health", headers={"Authorization": "Bearer token-a"})
    other = httpx.get(f"{server.url}/b/v1/health", headers={"Authorization": "Bearer token-a"})
    assert ok.status_code == 200
    assert other.status_code == 403
    assert other.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "x"},
        {"cursor": "garbage!"},
        {"updated_since": "yesterday"},
        {"updated_since": "2026-01-01T00:00:00"},
    ],
)
def test_bad_parameters_are_400_problems(reference_server: ReferenceServer, params: dict) -> None:
    """Out-of-range limit, a foreign cursor or a bad timestamp is a 400 problem."""
    with _client(reference_server) as client:
        response = client.get("/v1/cases", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_limit_bounds_and_default(reference_server: ReferenceServer) -> None:
    """limit=1 gives one item, the default (500) and limit=1000 give all 60 in one page."""
    with _client(reference_server) as client:
        one = client.get("/v1/cases", params={"limit": 1}).json()
        default = client.get("/v1/cases").json()
        most = client.get("/v1/cases", params={"limit": 1000}).json()
    assert len(one["items"]) == 1
    assert one["next_cursor"]
    assert len(default["items"]) == 60
    assert default["next_cursor"] is None
    assert most == default


def test_audits_staff_health(reference_server: ReferenceServer) -> None:
    """Audits page like cases; staff and health answer in the documented shape."""
    with _client(reference_server) as client:
        audits = [a for page in _pages(client, "/v1/audits", limit=1) for a in page]
        staff = client.get("/v1/staff").json()
        health = client.get("/v1/health").json()
    assert audits
    assert [a["audit_id"] for a in audits] != []
    assert sorted(a["audit_id"] for a in audits) == sorted(
        a["audit_id"] for a in reference_server.dataset.audits
    )
    assert staff == {"items": reference_server.dataset.staff}
    assert health == {"status": "ok", "api_version": "1"}


def test_multi_provider_mode(start_reference_server) -> None:
    """Several datasets are served under /{provider_id}/v1; bare /v1 is then a 404 problem."""
    datasets = {
        p: generate_dataset(cases=8, seed=n, today=TODAY, provider_id=p)
        for n, p in enumerate(("p001", "p002"))
    }
    server = start_reference_server(datasets=datasets)
    with _client(server) as client:
        one = client.get("/p001/v1/cases").json()["items"]
        two = client.get("/p002/v1/cases").json()["items"]
        bare = client.get("/v1/cases")
        unknown = client.get("/p999/v1/cases")
    assert sorted(c["case_ref"] for c in one) == sorted(datasets["p001"].refs)
    assert sorted(c["case_ref"] for c in two) == sorted(datasets["p002"].refs)
    assert bare.status_code == 404
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM


def test_single_dataset_also_served_under_its_prefix(reference_server: ReferenceServer) -> None:
    """One dataset answers at /v1 and at /demo/v1 alike."""
    with _client(reference_server) as client:
        assert client.get("/demo/v1/cases").json() == client.get("/v1/cases").json()


def test_admin_touch_is_protected_and_changes_cases(start_reference_server) -> None:
    """POST /_admin/touch needs the token; updated_since then finds exactly the touched cases."""
    server = start_reference_server(cases=40)
    with _client(server) as client:
        assert httpx.post(f"{server.url}/_admin/touch", params={"share": 0.1}).status_code == 401
        result = client.post("/_admin/touch", params={"share": 0.1, "seed": 3}).json()
        changed = client.get("/v1/cases", params={"updated_since": result["updated_at"]}).json()[
            "items"
        ]
    assert result["touched"] == 4
    assert len(changed) == 4


def test_fault_errors_and_rate_limits(start_reference_server) -> None:
    """error_rate gives 500/503 problems, rate_limit_rate 429 with Retry-After."""
    server = start_reference_server(
        faults=Faults(error_rate=0.5, rate_limit_rate=0.5, retry_after_seconds=3, seed=1)
    )
    with _client(server) as client:
        responses = [client.get("/v1/health") for _ in range(30)]
    statuses = {r.status_code for r in responses}
    assert statuses == {500, 503, 429}
    assert all(r.headers["retry-after"] == "3" for r in responses if r.status_code == 429)
    assert all(r.headers["content-type"] == PROBLEM for r in responses)


def test_fault_latency_and_slow(start_reference_server) -> None:
    """latency_ms delays every answer; slow_rate runs past a short client timeout."""
    server = start_reference_server(faults=Faults(latency_ms=200))
    with _client(server) as client:
        response = client.get("/v1/health")
    assert response.elapsed.total_seconds() >= 0.2
    slow = start_reference_server(faults=Faults(slow_rate=1.0, slow_seconds=2))
    with _client(slow, timeout=0.5) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/v1/health")


def test_fault_malformed_empty_and_dropped(start_reference_server) -> None:
    """malformed_rate breaks the JSON, empty_body_rate sends nothing, drop_rate cuts the body."""
    malformed = start_reference_server(faults=Faults(malformed_rate=1.0))
    with _client(malformed) as client:
        response = client.get("/v1/cases")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    empty = start_reference_server(faults=Faults(empty_body_rate=1.0))
    with _client(empty) as client:
        assert client.get("/v1/cases").content == b""
    dropped = start_reference_server(faults=Faults(drop_rate=1.0))
    with _client(dropped) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/cases")


def test_fault_unauthorized_and_endless_cursor(start_reference_server) -> None:
    """unauthorized answers 401 to the right token; endless_cursor never ends a collection."""
    refused = start_reference_server(faults=Faults(unauthorized=True))
    with _client(refused) as client:
        assert client.get("/v1/health").status_code == 401
    endless = start_reference_server(cases=5, faults=Faults(endless_cursor=True))
    with _client(endless) as client:
        cursor = None
        for _ in range(5):
            body = client.get("/v1/cases", params={"cursor": cursor} if cursor else {}).json()
            assert body["next_cursor"]
            cursor = body["next_cursor"]


def test_admin_path_is_never_faulted(start_reference_server) -> None:
    """Fault knobs leave /_admin alone, so tests can always touch data."""
    server = start_reference_server(faults=Faults(error_rate=1.0))
    with _client(server) as client:
        assert client.post("/_admin/touch", params={"share": 0.1}).status_code == 200


def test_committed_openapi_matches_code() -> None:
    """contract/openapi.json equals the document generated from the code."""
    committed = json.loads(
        (Path(__file__).parents[2] / "contract" / "openapi.json").read_text("utf-8")
    )
    assert committed == openapi_document(), "run: python -m reference.server --write-openapi"


def test_openapi_describes_payloads_and_problems() -> None:
    """The document has the case schema, bearer security and problem responses, not /_admin."""
    document = openapi_document()
    assert "CasePayload" in document["components"]["schemas"]
    assert "/_admin/touch" not in document["paths"]
    responses = document["paths"]["/v1/cases"]["get"]["responses"]
    assert {"400", "401", "429", "503"} <= set(responses)
    assert PROBLEM in responses["401"]["content"]
