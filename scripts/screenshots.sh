#!/usr/bin/env bash
# Reproduces docs/compare.png, docs/inspect.png and docs/measure.png: the real window at
# 1440x900 under a virtual X server. Assumes xvfb-run (apt-get install xvfb) and Qt's xcb
# libraries are installed (check: ldd .../PySide6/Qt/plugins/platforms/libqxcb.so).
set -euo pipefail
cd "$(dirname "$0")/.."
V=$(bash scripts/env.sh)
PROMPT="What is the capital of France?"
shot() { xvfb-run -a -s "-screen 0 1440x900x24" "$V/bin/bitnet-studio" gui --size 1440x900 "$@"; }
shot --page compare --prompt "$PROMPT" --screenshot docs/compare.png
shot --page inspect --screenshot docs/inspect.png # the right pane's (ternary) model, its q_proj
shot --page measure --prompt "$PROMPT" --bench quick --screenshot docs/measure.png
