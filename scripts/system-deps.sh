#!/usr/bin/env bash
# The Debian packages that the bundle test and the real-window runs need besides Python:
# desktop-file-validate, a virtual X server with xvfb-run, xwininfo, and the libraries
# Qt's xcb platform plugin loads (check: ldd .../PySide6/Qt/plugins/platforms/libqxcb.so).
# Installs the missing ones with apt-get when run as root; otherwise prints the command.
# Never fails: without these, the tests that need them skip and say why.
set -euo pipefail
packages=(
  desktop-file-utils xvfb xauth x11-utils
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0
)
log() { printf '[system-deps] %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null; then
  log "not a Debian system: install the equivalents of ${packages[*]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  log "missing: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
  exit 0
fi
log "installing ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2; then
  log "apt-get failed; the tests that need ${missing[*]} will skip"
fi
