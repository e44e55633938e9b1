"""Seeded synthetic provider data for the reference server, the demo, tests and benchmarks.

``generate_dataset`` draws a compact skeleton per case (service, phase, key dates, coach,
last update) and keeps it in arrays; each case's full JSON is rebuilt on demand from its
own seed (``generator_cases.build_case``). 100 000 cases cost a few seconds and tens of
megabytes, not gigabytes. The same seed always gives the same data.

Ordering for paging is (``updated_at``, ``case_ref``, position): the position breaks the
tie between the two items of a deliberate duplicate ``case_ref``.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, overload

import orjson  # pinned in uv.lock through prefect

from reference import generator_cases as gc
from reference.generator_clock import format_timestamp, local_epoch
from reference.generator_org import audits_for, build_staff, office_ids

#: Sort key of an item: (updated_at epoch seconds, ref, position).
Key = tuple[int, str, int]

_PHASE_WEIGHTS = (0.03, 0.04, 0.16, 0.30, 0.47)
_LANGUAGES = ("fi", "sv", "en")


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the way the reference server sends it (orjson: the faster one)."""
    return orjson.dumps(value)


class SortedKeys:
    """Items in paging order with cursor-position lookups (bisect, O(log n))."""

    def __init__(self, keys: list[Key]) -> None:
        self.keys = sorted(keys)

    def page(self, *, since: int | None, after: Key | None, limit: int) -> tuple[list[Key], bool]:
        """Up to ``limit`` keys at/after ``since``, strictly after ``after``; and if more follow."""
        keys = self.keys
        low = bisect_left(keys, (since,)) if since is not None else 0
        if after is not None:
            low = max(low, bisect_right(keys, after))
        chunk = keys[low : low + limit]
        return chunk, low + limit < len(keys)


class CaseList(Sequence[dict[str, Any]]):
    """The dataset's cases as JSON-ready dicts, built on access (generation order)."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset.refs)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._dataset.case_dict(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._dataset.case_dict(index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._dataset.case_dict(i) for i in range(len(self)))


@dataclass(frozen=True, slots=True)
class _Skeleton:
    service: bytearray
    phase: bytearray
    language: bytearray
    decision: array[int]
    as_of: array[int]
    coach: array[int]


class Dataset:
    """One provider's data: cases (lazy), audits, staff, and the refs made invalid on purpose."""

    def __init__(
        self,
        *,
        provider_id: str,
        seed: int,
        today: date,
        skeleton: _Skeleton,
        refs: list[str],
        updated: array[int],
        invalid: Mapping[int, str],
        staff: list[dict[str, Any]],
        audits: list[dict[str, Any]],
    ) -> None:
        self.provider_id = provider_id
        self.seed = seed
        self.today = today
        self.refs = refs
        self.staff = staff
        self.audits = audits
        self.invalid = dict(invalid)
        self.invalid_refs = frozenset(refs[i] for i in invalid)
        self._skeleton = skeleton
        self._updated = updated
        self._version = array("l", bytes(array("l").itemsize * len(refs)))
        self._touched_on = array("l", bytes(array("l").itemsize * len(refs)))
        self.cases = CaseList(self)
        self.case_keys = SortedKeys(list(zip(updated, refs, range(len(refs)), strict=True)))
        self.audit_keys = SortedKeys(
            [(_epoch(a["updated_at"]), a["audit_id"], i) for i, a in enumerate(audits)]
        )
        self.audit_bytes = [dumps(a) for a in audits]
        self.staff_bytes = dumps({"items": staff})
        self._position = {ref: i for i, ref in reversed(list(enumerate(refs)))}

    def __len__(self) -> int:
        return len(self.refs)

    def case_dict(self, index: int) -> dict[str, Any]:
        """Case ``index`` (generation order) in the API shape."""
        sk = self._skeleton
        coach = self.staff[sk.coach[index]]
        spec = gc.CaseSeed(
            rng_seed=self.seed * 1_000_003 + index,
            case_ref=self.refs[index],
            service=sk.service[index],
            phase=sk.phase[index],
            decision_on=sk.decision[index],
            as_of=sk.as_of[index],
            office_id=coach["office_id"],
            coach_id=coach["id"],
            language=_LANGUAGES[sk.language[index]],
            version=self._version[index],
            touched_on=self._touched_on[index],
        )
        case = gc.build_case(spec)
        case["updated_at"] = format_timestamp(self._updated[index])
        kind = self.invalid.get(index)
        if kind is not None:
            case = gc.make_invalid(case, kind, random.Random(spec.rng_seed ^ 0x5EED))  # noqa: S311 - synthetic data, not security
        return case

    def case_bytes(self, index: int) -> bytes:
        """Case ``index`` serialized as the server sends it."""
        return dumps(self.case_dict(index))

    def position_of(self, case_ref: str) -> int | None:
        """Generation index of the first case with ``case_ref``."""
        return self._position.get(case_ref)

    def touch(self, share: float, seed: int, now: datetime) -> list[str]:
        """Change ``share`` of the cases as of ``now``: bump ``updated_at``, change a field.

        Returns the refs touched. Items keep their identity, so a cursor taken before the
        touch stays valid; touched items move to the end of the paging order.
        """
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"touch share {share!r} is not between 0 and 1")
        if now.tzinfo is None:
            raise ValueError(f"touch now {now!r} has no time zone")
        count = round(share * len(self.refs))
        chosen = random.Random(seed).sample(range(len(self.refs)), count)  # noqa: S311 - synthetic data, not security
        epoch = int(now.timestamp())
        today_on = now.date().toordinal()
        for index in chosen:
            self._version[index] += 1
            self._touched_on[index] = max(today_on, self._skeleton.as_of[index])
            self._updated[index] = epoch
        self.case_keys = SortedKeys(
            list(zip(self._updated, self.refs, range(len(self.refs)), strict=True))
        )
        return [self.refs[i] for i in chosen]


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp())


def generate_dataset(
    *,
    cases: int,
    seed: int,
    today: date,
    provider_id: str = "demo",
    invalid_share: float = 0.0,
    offices: int | None = None,
) -> Dataset:
    """A deterministic synthetic provider with ``cases`` cases as of ``today``."""
    if cases < 0:
        raise ValueError(f"cases {cases!r} must be zero or more")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError(f"invalid_share {invalid_share!r} is not between 0 and 1")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    office_count = offices if offices is not None else max(2, min(40, cases // 1500 + 2))
    if office_count < 1:
        raise ValueError(f"offices {office_count!r} must be at least 1")
    names = office_ids(office_count)
    weights = [1.0 / (k + 1) ** 0.5 for k in range(office_count)]
    if office_count > 1:
        weights[-1] = weights[0] * 0.15  # the small office
    office_of = rng.choices(range(office_count), weights=weights, k=cases)
    per_office = [0] * office_count
    for office in office_of:
        per_office[office] += 1
    today_on = today.toordinal()
    staff = build_staff(rng, names, per_office, today_on)
    active_by_office: list[list[int]] = [[] for _ in names]
    office_index = {name: k for k, name in enumerate(names)}
    for position, coach in enumerate(staff):
        if coach["active"]:
            active_by_office[office_index[coach["office_id"]]].append(position)
    skeleton, refs, updated = _skeleton(rng, cases, today_on, office_of, active_by_office)
    invalid = _choose_invalid(rng, cases, invalid_share, refs, updated)
    audits = audits_for(random.Random(seed ^ 0xA0D17), names, today_on, cases)  # noqa: S311 - synthetic data, not security
    return Dataset(
        provider_id=provider_id,
        seed=seed,
        today=today,
        skeleton=skeleton,
        refs=refs,
        updated=updated,
        invalid=invalid,
        staff=staff,
        audits=audits,
    )


def _skeleton(
    rng: random.Random,
    cases: int,
    today: int,
    office_of: list[int],
    active_by_office: list[list[int]],
) -> tuple[_Skeleton, list[str], array[int]]:
    service = bytearray(cases)
    phase = bytearray(cases)
    language = bytearray(cases)
    decision = array("l")
    as_of = array("l")
    coach = array("l")
    updated = array("q")
    refs: list[str] = []
    width = max(4, len(str(cases)))
    phases = rng.choices(range(5), weights=_PHASE_WEIGHTS, k=cases)
    randint, random_ = rng.randint, rng.random
    for i in range(cases):
        svc = 0 if random_() < 0.6 else 1
        ph = phases[i]
        if ph == gc.ENDED:
            last = today - randint(15, 240)
            dec = last - (randint(100, 200) if svc == 0 else randint(150, 440))
        elif ph == gc.WAIT_CONTACT:
            dec = today - (randint(3, 6) if random_() < 0.2 else randint(1, 2))
            last = dec
        else:
            last = today - randint(1, 12)
            if ph == gc.WAIT_MEETING:
                dec = last - randint(1, 8)
            elif ph == gc.PLANNING:
                dec = last - (randint(46, 70) if random_() < 0.1 else randint(8, 45))
            else:
                dec = last - randint(45, 150 if svc == 0 else 390)
        roll = random_()
        service[i], phase[i] = svc, ph
        language[i] = 0 if roll < 0.85 else (1 if roll < 0.95 else 2)
        decision.append(dec)
        as_of.append(last)
        team = active_by_office[office_of[i]]
        coach.append(team[randint(0, len(team) - 1)])
        updated.append(local_epoch(last, randint(7 * 3600, 19 * 3600 - 1)))
        refs.append(f"{gc.PREFIXES[svc]}-{date.fromordinal(dec).year}-{i + 1:0{width}d}")
    return _Skeleton(service, phase, language, decision, as_of, coach), refs, updated


def _choose_invalid(
    rng: random.Random, cases: int, share: float, refs: list[str], updated: array[int]
) -> dict[int, str]:
    count = round(share * cases)
    invalid: dict[int, str] = {}
    for order, index in enumerate(sorted(rng.sample(range(cases), count))):
        kind = gc.invalid_kind_for(order)
        if kind == "duplicate_ref" and cases > 1:
            partner = index - 1 if index > 0 else index + 1
            refs[index] = refs[partner]
            updated[index] = updated[partner]
        invalid[index] = kind
    return invalid
