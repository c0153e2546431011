#!/usr/bin/env bash
# `make run`: start the services, then the pipeline in the foreground. On exit
# (Ctrl-C included) stop the services this invocation started, and only those.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The local cluster's port, unless DATABASE_URL names a database already.
export DATABASE_URL="${DATABASE_URL:-postgresql+asyncpg://inventory@127.0.0.1:${LOCAL_PG_PORT:-15432}/inventory}"
# Where `inventory run` records its pids, and `make stop` finds them (inventory.pidfiles).
export INVENTORY_PID_DIR="$ROOT/.local/pids"
# A development machine: the worker and the gateway accept the derived internal
# command key (set INTERNAL_COMMAND_KEY and ENVIRONMENT=production anywhere else).
export ENVIRONMENT="${ENVIRONMENT:-development}"

started=()
if ! scripts/kafka.sh status >/dev/null 2>&1; then started+=(kafka); fi
if ! scripts/postgres.sh status >/dev/null 2>&1; then started+=(postgres); fi

cleanup() {
  for service in "${started[@]}"; do scripts/"$service".sh stop; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/kafka.sh start || exit 1
scripts/postgres.sh start || exit 1
scripts/local_admin_key.sh || exit 1
.venv/bin/inventory run
