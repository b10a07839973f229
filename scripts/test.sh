#!/usr/bin/env bash
# Sets everything up (first run: several minutes) and runs the whole test suite:
# ruff (lint + format check), then pytest, headless.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
cd "$root"
export QT_QPA_PLATFORM=offscreen
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
exec "$venv/bin/python" -m pytest "$@"
