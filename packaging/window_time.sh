#!/usr/bin/env bash
# Start-to-window time of the desktop app on a virtual X server (xvfb-run, xwininfo: see
# scripts/system-deps.sh). Starts PROGRAM with no arguments (the app on its default models),
# polls until the "BitNet Studio" window is viewable, prints the milliseconds, stops it.
#   packaging/window_time.sh [PROGRAM]      (default: ~/.local/bin/bitnet-studio)
set -euo pipefail
program=${1:-$HOME/.local/bin/bitnet-studio}
if [ -z "${WINDOW_TIME_IN_X:-}" ]; then
  WINDOW_TIME_IN_X=1 exec xvfb-run -a -s "-screen 0 1440x900x24" "$0" "$program"
fi
export QT_QPA_PLATFORM=xcb
start=$(date +%s%N)
"$program" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
until xwininfo -name "BitNet Studio" 2>/dev/null | grep -q "IsViewable"; do
  kill -0 "$pid" 2>/dev/null || { echo "window_time: $program exited before its window" >&2; exit 1; }
  [ $(($(date +%s%N) - start)) -lt 120000000000 ] || { echo "window_time: no window in 120 s" >&2; exit 1; }
  sleep 0.02
done
echo "window up after $((($(date +%s%N) - start) / 1000000)) ms: $program"
