"""The engine alone: validation and evaluation on in-memory cases (no I/O, no Prefect).

Cases come straight from the generator as parsed JSON (the dicts the sync validates).
Memory stays bounded: at most :data:`SAMPLE` cases are held; per-case costs are what
the table reports, and they do not depend on how many cases there are.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from datetime import date

import orjson

import rules
from contract import validate
from core.process import tune_collector
from reference.generator import generate_dataset

SAMPLE = 20_000


@dataclass(frozen=True, slots=True)
class EngineResult:
    cases: int
    deadlines: int
    validate_seconds: float
    evaluate_seconds: float

    @property
    def validate_us(self) -> float:
        return self.validate_seconds / self.cases * 1e6

    @property
    def evaluate_us(self) -> float:
        return self.evaluate_seconds / self.cases * 1e6

    @property
    def evaluate_per_second(self) -> float:
        return self.cases / self.evaluate_seconds if self.evaluate_seconds else 0.0


def measure_engine(size: int, today: date, seed: int = 1) -> EngineResult:
    """Validate, then evaluate, up to SAMPLE generated cases as of ``today`` (the collector
    tuned as every Vahti process tunes it where its work starts)."""
    tune_collector()
    dataset = generate_dataset(cases=min(size, SAMPLE), seed=seed, today=today)
    items = [orjson.loads(dataset.case_bytes(i)) for i in range(len(dataset))]
    staff = validate.validate_staff(dataset.staff)[0]
    audits = validate.validate_audits(dataset.audits)[0]
    warm, _ = validate.validate_cases(items[:50])  # first calls fill the pack and calendar caches
    rules.evaluate(warm, audits, staff, None, today, rules.FinnishCalendar())
    gc.collect()
    started = time.perf_counter()
    valid, rejected = validate.validate_cases(items)
    validated = time.perf_counter()
    deadlines = rules.evaluate(valid, audits, staff, None, today, rules.FinnishCalendar())
    evaluated = time.perf_counter()
    del items, rejected
    return EngineResult(
        cases=len(valid),
        deadlines=len(deadlines),
        validate_seconds=validated - started,
        evaluate_seconds=evaluated - validated,
    )
