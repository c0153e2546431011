#!/usr/bin/env bash
# Local PostgreSQL for development and tests: a cluster made with initdb in a
# project folder, run as the `postgres` user (the server refuses root) on a
# fixed loopback port.
#
#   scripts/postgres.sh start    install binaries if missing, initdb once, start, create role and db
#   scripts/postgres.sh stop     stop the cluster this script started
#   scripts/postgres.sh status   exit 0 when it accepts connections
#   scripts/postgres.sh crash    immediate stop, no checkpoint (the fault campaign's outage)
#
# Safe to re-run. If DATABASE_URL is set, nothing is started: that database is used.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Below 32768: the kernel hands out client ports above, and a listener there can collide.
PORT=${LOCAL_PG_PORT:-15432}
DB_NAME=inventory
DB_USER=inventory
RUN_AS=postgres

log() { echo "[postgres] $*" >&2; }

external() {
  [ -n "${DATABASE_URL:-}" ] && [[ "$DATABASE_URL" != *"@127.0.0.1:${PORT}/"* ]]
}

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_binaries() {
  if ! BINDIR=$(find_bindir); then
    log "PostgreSQL binaries missing: installing Debian's postgresql package"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    BINDIR=$(find_bindir)
  fi
}

# The data folder is project-local, unless the postgres user cannot reach the
# project (a clone under /root, say): then it lives under postgres's home.
data_dir() {
  local local_dir="$ROOT/.local/postgres"
  if as_postgres test -x "$ROOT"; then
    echo "$local_dir"
  else
    echo "/var/lib/postgresql/inventory-stream-$(echo "$ROOT" | md5sum | cut -c1-12)"
  fi
}

as_postgres() {
  # From /: the postgres user may not be allowed into the current directory.
  if [ "$(id -un)" = "$RUN_AS" ]; then "$@"; else (cd / && runuser -u "$RUN_AS" -- "$@"); fi
}

pgctl() { as_postgres "$BINDIR/pg_ctl" -D "$DATA" "$@"; }

ready() { "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }

start() {
  if external; then
    log "DATABASE_URL is set to another server: using it, not starting one"
    return
  fi
  ensure_binaries
  DATA=$(data_dir)
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "creating cluster in $DATA"
    mkdir -p "$DATA"
    chown "$RUN_AS" "$DATA"
    chmod 700 "$DATA"
    # trust on loopback only: a throw-away development cluster, never exposed.
    as_postgres "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DATA'
max_connections = 200
shared_buffers = 256MB
fsync = on
CONF
  fi
  if pgctl status >/dev/null 2>&1 && ready; then
    log "already running on 127.0.0.1:$PORT"
  else
    log "starting on 127.0.0.1:$PORT (data: $DATA)"
    # The port on the command line, not in the cluster's config: LOCAL_PG_PORT is followed
    # on every start, also by a cluster made with another one.
    pgctl -l "$DATA/server.log" -o "-p $PORT" -w -t 60 start >/dev/null
  fi
  local psql=("$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qtA)
  if [ "$("${psql[@]}" -c "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
    "${psql[@]}" -c "create role $DB_USER login createdb password '$DB_USER'"
  fi
  if [ "$("${psql[@]}" -c "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
    "${psql[@]}" -c "create database $DB_NAME owner $DB_USER"
  fi
  log "ready: postgresql://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
}

stop() {
  BINDIR=$(find_bindir) || return 0
  DATA=$(data_dir)
  [ -f "$DATA/PG_VERSION" ] || return 0
  if pgctl status >/dev/null 2>&1; then
    log "stopping"
    pgctl -m fast -w stop >/dev/null
  fi
}

crash() {
  BINDIR=$(find_bindir)
  DATA=$(data_dir)
  log "stopping in immediate mode (a crash: recovery replays the WAL on the next start)"
  pgctl -m immediate -w stop >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  crash) if external; then log "not crashing an external database"; exit 2; fi; crash ;;
  status) BINDIR=$(find_bindir) && ready ;;
  *) echo "usage: $0 start|stop|status|crash" >&2; exit 2 ;;
esac
