#!/usr/bin/env bash
# `make bench`: every benchmark script, one results file per run, the summary table last.
#
# The targets are PostgreSQL's, so this measures PostgreSQL: BENCH_DATABASE_URL when set (a
# database of its own, "bench" in its name: its tables are emptied); otherwise the project's
# throwaway server (.ci/postgres.sh, when PostgreSQL is installed and this user may start it) and
# a "bench" database in it; otherwise SQLite only, and it says so. The store lookups also run on
# SQLite, where slack_sdk's SQLite3 store lives. Figures go to benchmarks/results/<time>.jsonl
# (results.py; commit the run the README's summary cites). BENCH_QUICK=1: smaller sizes.
# BENCH_SQLITE_ONLY=1: never touch PostgreSQL. BENCH_SCRIPTS="reencrypt store_lookup": only
# those (install_flow_example: install_flow.py --peer-stores django). Exits non-zero if a
# script failed; a figure that misses its target is a line of the table, not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SCRIPTS=${BENCH_SCRIPTS:-install_flow install_flow_example events verify refresh reencrypt store_lookup admin_list}
QUICK=${BENCH_QUICK:+--quick}

pg=${BENCH_DATABASE_URL:-}
if [ -z "$pg" ] && [ -z "${BENCH_SQLITE_ONLY:-}" ]; then
  if ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 && server=$(.ci/postgres.sh 2>/dev/null); then
    pg="${server%/*}/bench"
    "$PY" - "$server" <<'EOF' || pg=""
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench'").fetchone():
        conn.execute("CREATE DATABASE bench")
EOF
  fi
fi
if [ -n "$pg" ]; then
  database=postgresql
  echo "make bench: PostgreSQL at ${pg##*@} (its tables are emptied)"
else
  database=sqlite
  echo "make bench: SQLITE ONLY${BENCH_SQLITE_ONLY:+ (BENCH_SQLITE_ONLY)}. No PostgreSQL (set" \
    "BENCH_DATABASE_URL, or install PostgreSQL so .ci/postgres.sh can start one): the targets" \
    "are PostgreSQL's."
fi

name=$(date -u +%Y%m%d-%H%M%S)${BENCH_QUICK:+-quick}
[ "$database" = sqlite ] && name=$name-sqlite
mkdir -p benchmarks/results
export BENCH_RESULTS=${BENCH_RESULTS:-benchmarks/results/$name.jsonl}
: >"$BENCH_RESULTS"
"$PY" benchmarks/results.py start "$database" $QUICK

failed=()
run() {  # run <script> <database url or ""> <label>
  local args=$QUICK script=$1
  if [ "$1" = admin_list ]; then
    args="--sizes 1000,20000 --repeat 3"  # no target in the table; 100,000 rows take minutes
  elif [ "$1" = install_flow_example ]; then  # the peer as bolt-python's Django example has it
    script=install_flow
    args="$args --peer-stores django"
  fi
  echo
  echo "== benchmarks/$script.py on $3 $args"
  local began=$SECONDS
  if ! BENCH_DATABASE_URL="$2" "$PY" "benchmarks/$script.py" $args; then
    failed+=("$1 on $3")
  fi
  echo "   ($1 on $3: $((SECONDS - began)) s)"
}
started=$SECONDS
for script in $SCRIPTS; do
  if [ "$database" = postgresql ] && [ "$script" = store_lookup ]; then
    run store_lookup "" sqlite
  fi
  run "$script" "$pg" "$database"
done

"$PY" benchmarks/results.py end $((SECONDS - started)) --failed "${failed[*]:-}"
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "make bench: failed: ${failed[*]}"
fi
echo "== summary ($BENCH_RESULTS; benchmarks/results.py readme $BENCH_RESULTS puts it in the README)"
"$PY" benchmarks/results.py table "$BENCH_RESULTS"
[ ${#failed[@]} -eq 0 ]
