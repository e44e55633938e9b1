"""Stored raw JSON rewritten in the faster canonical form (orjson: sorted keys, UTF-8).

The sync now writes each item's canonical text with orjson whenever that is exact (see
``models.store.canonical_json``). Texts stored before are rewritten the same way here,
with their content hashes, so an unchanged item is still recognised as unchanged after
the upgrade (no spurious new revision for every case). A text orjson cannot write
exactly (NaN, lone surrogates, integers past 64 bits, non-JSON repr fallbacks) is kept
as it is: the sync keeps writing those in the old form too. The rule is copied here,
not imported, so this migration means the same thing whatever the code does later.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("provider_case", "case_revision", "audit", "coach", "rejected_payload")
BATCH = 2000


def _finite(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _to_orjson(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not _finite(value):
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return None


def _to_json(text: str) -> str | None:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return None


def _rewrite(table: str, convert: Callable[[str], str | None]) -> None:
    connection = op.get_bind()
    select = sa.text(f"SELECT id, raw FROM {table} WHERE id > :last ORDER BY id LIMIT {BATCH}")  # noqa: S608 - table names are constants
    update = sa.text(f"UPDATE {table} SET raw = :raw, content_hash = :digest WHERE id = :id")  # noqa: S608
    last = 0
    while rows := connection.execute(select, {"last": last}).all():
        changed = []
        for row_id, raw in rows:
            text = convert(raw)
            if text is not None and text != raw:
                digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
                changed.append({"id": row_id, "raw": text, "digest": digest})
        if changed:
            connection.execute(update, changed)
        last = rows[-1][0]


def upgrade() -> None:
    for table in TABLES:
        _rewrite(table, _to_orjson)


def downgrade() -> None:
    for table in TABLES:
        _rewrite(table, _to_json)
