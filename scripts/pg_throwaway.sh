#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the storage tests: initdb + pg_ctl as an unprivileged user (PostgreSQL refuses
# to run as root), listening on loopback only, trust authentication. Prints the SQLAlchemy URL to give the tests as
# PR2_TEST_POSTGRES_URL. Usage: scripts/pg_throwaway.sh [DIR] [PORT]; stop it: pg_ctl -D DIR/data stop.
set -euo pipefail
DIR=${1:-/tmp/pr2-pg}
PORT=${2:-55432}
INITDB=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$INITDB" ]; then
    echo "initdb not found: install PostgreSQL (Debian: apt-get install postgresql)" >&2
    exit 1
fi
BIN=$(dirname "$(readlink -f "$INITDB")")
RUNAS=()
if [ "$(id -u)" = 0 ]; then
    id pr2pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin pr2pg
    RUNAS=(runuser -u pr2pg --)
fi
if [ -f "$DIR/data/postmaster.pid" ]; then
    "${RUNAS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
fi
rm -rf "$DIR"
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown pr2pg "$DIR"
"${RUNAS[@]}" "$BIN/initdb" -D "$DIR/data" -U pr2 --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
"${RUNAS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U pr2 pr2
echo "postgresql+psycopg://pr2@127.0.0.1:$PORT/pr2"
