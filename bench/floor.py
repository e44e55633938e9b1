"""The floor: fetch and parse every page with httpx and a JSON parser, nothing else.

Vahti cannot be faster than reading its input. The same pages the sync reads (cases
and audits page by page, then the staff list) are fetched from the reference provider
process, one provider after another over one keep-alive connection each, and parsed
with the standard library's ``json`` (what the Vahti client uses) and with ``orjson``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.server import ProviderProcess

PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class FloorResult:
    parser: str
    seconds: float
    cases: int
    megabytes: float

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


def _fetch_all(server: ProviderProcess, parse: Callable[[bytes], Any]) -> tuple[int, int]:
    cases = size = 0
    headers = {"Authorization": f"Bearer {server.token}"}
    for pid in server.ids:
        with httpx.Client(
            base_url=server.base_url(pid), headers=headers, timeout=60, trust_env=False
        ) as client:
            for collection in ("cases", "audits"):
                params: dict[str, str | int] = {"limit": PAGE_SIZE}
                while True:
                    response = client.get(f"/v1/{collection}", params=params)
                    response.raise_for_status()
                    size += len(response.content)
                    body = parse(response.content)
                    if collection == "cases":
                        cases += len(body["items"])
                    if body["next_cursor"] is None:
                        break
                    params["cursor"] = body["next_cursor"]
            response = client.get("/v1/staff")
            size += len(response.content)
            parse(response.content)
    return cases, size


def measure_floor(server: ProviderProcess) -> list[FloorResult]:
    """Fetch and parse everything with each parser (same pages, back to back)."""
    results = []
    for name, parse in (("json", json.loads), ("orjson", orjson.loads)):
        started = time.perf_counter()
        cases, size = _fetch_all(server, parse)
        seconds = time.perf_counter() - started
        results.append(FloorResult(name, seconds, cases, size / 1e6))
    return results


def fastest_floor(point: dict[str, Any]) -> float | None:
    """The floor: the fastest parser's seconds to fetch and parse everything; the mean of
    the measurement before the full run and the one right after it, when both were made."""
    found = [
        min(f["seconds"] for f in point[key]) for key in ("floor", "floor_after") if point.get(key)
    ]
    return sum(found) / len(found) if found else None
