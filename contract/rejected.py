"""An input item that failed validation: kept whole, with every error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RejectedKind = Literal["case", "audit", "coach"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input item that failed validation: kept whole, with every error."""

    kind: RejectedKind
    ref: str | None  # case_ref / audit_id / coach id when readable
    errors: tuple[str, ...]
    raw: object = field(repr=False, default=None)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "ref": self.ref, "errors": list(self.errors)}
