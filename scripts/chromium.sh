#!/usr/bin/env bash
# Prints the path of Debian's chromium, installing it with apt-get when it is missing:
# the /ops browser test (tests/e2e/test_ops_page.py) drives it through Playwright, which
# never downloads a browser of its own here. CHROMIUM=<path> names another binary.
set -euo pipefail
if [ -n "${CHROMIUM:-}" ]; then
  echo "$CHROMIUM"
  exit 0
fi
for candidate in chromium chromium-browser; do
  if path=$(command -v "$candidate"); then
    echo "$path"
    exit 0
  fi
done
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "chromium is missing and this user cannot install it: run" \
    "'apt-get install -y chromium' as root, or set CHROMIUM=<path>" >&2
  exit 1
fi
echo "installing chromium (apt-get) for the browser test" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >&2
"${as_root[@]}" apt-get install -y -qq chromium >&2
command -v chromium
