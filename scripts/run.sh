#!/usr/bin/env bash
# Sets everything up (first run: several minutes) and starts BitNet Studio on the bundled
# default models. Extra arguments go to `bitnet-studio` (e.g. `make run ARGS="selftest"`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$(bash "$root/scripts/env.sh")
exec "$venv/bin/bitnet-studio" "$@"
