#!/usr/bin/env bash
# The local admin API key of `make run`: made on the first start, printed, and kept in
# .local/admin.key (mode 600; the database keeps only its hash), where the README's curl
# examples and scripts/chaos_test.py read it. Later starts reuse it.
# Delete the file for a new key (after the database was wiped, say). ADMIN_KEY_FILE
# names another file (tests).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEY_FILE="${ADMIN_KEY_FILE:-$ROOT/.local/admin.key}"
if [ -s "$KEY_FILE" ]; then
  echo "local admin API key in $KEY_FILE:"
  echo "  curl -H \"Authorization: Bearer \$(cat $KEY_FILE)\" http://127.0.0.1:${GATEWAY_PORT:-8080}/api/orders/"
  exit 0
fi
mkdir -p "$(dirname "$KEY_FILE")"
key=$("$ROOT/.venv/bin/inventory" keys create --role admin --name "local admin (make run)" | tail -n 1)
(umask 077 && printf '%s\n' "$key" >"$KEY_FILE")
echo "created a local admin API key, kept in $KEY_FILE:"
echo "  $key"
