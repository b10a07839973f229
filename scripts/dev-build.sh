#!/usr/bin/env bash
# Rebuilds the editable install of bitnet_studio in the project venv, serialised with a
# lock so that several shells (or developers' helpers) never build the same tree at once.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BITNET_STUDIO_VENV:-$(bash "$root/scripts/env.sh")}
exec flock /tmp/bitnet-studio-build.lock \
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e "$root"
