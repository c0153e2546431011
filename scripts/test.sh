#!/usr/bin/env bash
# pytest over the given folders, with the local services already started (make services).
# pytest's exit code 5 means "no tests collected": a layer with nothing in it is not a failure
# of the others, but it is reported loudly.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The local cluster's port, unless DATABASE_URL names a database already.
export DATABASE_URL="${DATABASE_URL:-postgresql+asyncpg://inventory@127.0.0.1:${LOCAL_PG_PORT:-15432}/inventory}"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests in: $*" >&2
  exit 0
fi
exit "$rc"
