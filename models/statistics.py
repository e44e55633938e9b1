"""Planner statistics on PostgreSQL: ANALYZE what a check wrote, as soon as it is written."""

from __future__ import annotations

from sqlalchemy import Engine, text

#: PostgreSQL's own autovacuum defaults (``autovacuum_analyze_threshold``, ``_scale_factor``):
#: a table is analyzed again once more rows than these changed since its last ANALYZE.
ANALYZE_ROWS, ANALYZE_SHARE = 50, 0.1

_PLANNER_COUNTS = text(
    "SELECT c.relname, c.reltuples, COALESCE(s.n_mod_since_analyze, 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
    "AND pg_has_role(c.relowner, 'USAGE') ORDER BY c.relname"  # ANALYZE needs the owner
)


def refresh_statistics(engine: Engine) -> list[str]:
    """ANALYZE the store's tables on PostgreSQL whose planner statistics are missing or stale;
    the names of those analyzed (none on SQLite).

    A first check writes ~0.8 million rows at 100 000 cases. Until a table is analyzed the
    planner guesses, and it guessed a sequential scan of every alert for each provider's
    ledger lookup (bench/README.md, "planner statistics"). Autovacuum analyzes
    such tables a minute or more later, or never where it is off; the flow refreshes them
    as soon as its checks end, so its notify and the next run plan with the real counts.
    Analyzed: a table never analyzed that holds rows (read from the table itself, so it does
    not depend on the statistics collector, whose counts lag the writers by up to a second),
    and one in which more rows changed since its last analysis than autovacuum's own
    threshold; only tables the connected role owns (ANALYZE skips the others). ANALYZE
    reads a sample of each table (about a second for all of them at national scale) and
    blocks no reader or writer.
    """
    if engine.dialect.name != "postgresql":
        return []
    quote = engine.dialect.identifier_preparer.quote
    stale: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for name, planned_rows, changed in connection.execute(_PLANNER_COUNTS).all():
            if planned_rows <= 0:  # never analyzed (-1; 0 before PostgreSQL 14) or empty
                exists = f"SELECT EXISTS (SELECT 1 FROM {quote(name)})"  # noqa: S608 - a catalogue name, quoted
                if connection.execute(text(exists)).scalar():
                    stale.append(str(name))
            elif changed > ANALYZE_ROWS + ANALYZE_SHARE * planned_rows:
                stale.append(str(name))
        for name in stale:
            connection.execute(text(f"ANALYZE {quote(name)}"))
    return stale
