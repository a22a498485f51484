#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1:${PGPORT:-54329} and prints its DATABASE_URL.
# Needs Debian's postgresql package (installed by .ci/run). Safe to call twice.
set -euo pipefail
PGPORT=${PGPORT:-54329}
PGDATA=${PGDATA:-/tmp/slackinstall-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { runuser -u postgres -- "$@"; }
if ! as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  rm -rf "$PGDATA"
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA"
  as_pg "$BIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
  as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
  as_pg psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE ROLE slackinstall LOGIN SUPERUSER PASSWORD 'slackinstall'" >/dev/null
  as_pg psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE slackinstall OWNER slackinstall" >/dev/null
fi
echo "postgres://slackinstall:slackinstall@127.0.0.1:$PGPORT/slackinstall"
