#!/usr/bin/env bash
# The README's whole grid, one point after another (never two at once: they would
# measure each other): 1 000, 10 000 and 100 000 cases over 1, 20 and 200 providers, on
# SQLite and, when VAHTI_TEST_POSTGRES_URL is set, on PostgreSQL; the naive design at
# 1 000 cases over 1 provider. Appends to the results file given (default
# bench/results.jsonl). Run from the repository root; PYTHON names the interpreter
# (default: the project's .venv/bin/python).
set -euo pipefail
results="${1:-bench/results.jsonl}"
python="${PYTHON:-.venv/bin/python}"
dbs=(sqlite)
[ -n "${VAHTI_TEST_POSTGRES_URL:-}" ] && dbs+=(postgres)
for size in 1000 10000 100000; do
    for providers in 1 20 200; do
        for db in "${dbs[@]}"; do
            extra=()
            [ "$size/$providers/$db" = "1000/1/sqlite" ] && extra=(--naive)
            echo "### $size cases, $providers provider(s), $db  ($(date -u +%FT%TZ))"
            "$python" -m bench --size "$size" --providers "$providers" --db "$db" \
                "${extra[@]}" --results "$results"
        done
    done
done
