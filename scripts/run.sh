#!/usr/bin/env bash
# Sets everything up (first run: several minutes) and starts BitNet Studio.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
if "$venv/bin/python" -c "import bitnet_studio.ui" 2>/dev/null; then
  exec "$venv/bin/bitnet-studio" "$@"
fi
# Until the desktop app lands, the headless self-test is what `make run` shows.
exec "$venv/bin/bitnet-studio" selftest "$@"
