#!/usr/bin/env bash
# Starts (start) or stops (stop) the PostgreSQL 15 cluster that ctest's PostgreSQL tests
# share: initdb into DIR as the postgres user (when run as root), listening on a socket in
# DIR only (no TCP port to collide with), fsync on. The tests reach it through
# BACKUP_TEST_POSTGRES (set by CMake). Tests that restart PostgreSQL start their own.
set -euo pipefail
action=$1 dir=$2
bin=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  start)
    if [ -f "$dir/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop || true; fi
    rm -rf "$dir" && mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
    as_pg "$bin/initdb" -N -A trust -U postgres -E UTF8 --no-locale -D "$dir/data" >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log"; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses='' -c max_connections=300" start >/dev/null ||
      { cat "$dir/server.log"; exit 1; }
    echo "PostgreSQL for the tests: socket in $dir"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
