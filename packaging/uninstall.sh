#!/usr/bin/env bash
# Removes what install.sh created, exactly as its manifest lists it. Safe to run twice.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: uninstall.sh [--help]

Removes the BitNet Studio installation of the current user: every file, link and folder
listed in $XDG_DATA_HOME/bitnet-studio/manifest.txt (XDG_DATA_HOME: ~/.local/share), then
folders install.sh created once they are empty. Nothing else is touched (the app's
settings in ~/.config/BitNet Studio/ stay); without a manifest there is nothing to do.
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "uninstall.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac

data=${XDG_DATA_HOME:-$HOME/.local/share}
prefix=$data/bitnet-studio
manifest=$prefix/manifest.txt
if [ ! -f "$manifest" ]; then
  echo "uninstall.sh: nothing to remove (no $manifest)"
  exit 0
fi

mapfile -t entries < <(grep -v '^#' "$manifest")
rm -f "$manifest"
removed=0
# Newest first: files before the folders that hold them.
for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
  kind=${entries[i]%% *}
  path=${entries[i]#* }
  case "$kind" in
    file | link) rm -f -- "$path" ;;
    tree)
      case "$path" in
        "$prefix"/*) rm -rf -- "$path" ;;
        *) echo "uninstall.sh: skipping $path (outside $prefix)" >&2; continue ;;
      esac
      ;;
    dir) rmdir -- "$path" 2>/dev/null || continue ;; # kept when something else is in it
    *) echo "uninstall.sh: skipping unknown manifest line: ${entries[i]}" >&2; continue ;;
  esac
  removed=$((removed + 1))
done

# A menu cache that was there before the install: refresh it without our entry.
if [ -f "$data/applications/mimeinfo.cache" ] && command -v update-desktop-database >/dev/null; then
  update-desktop-database "$data/applications" 2>/dev/null || true
fi
if [ -f "$data/icons/hicolor/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null; then
  gtk-update-icon-cache -f -t -q "$data/icons/hicolor" 2>/dev/null || true
fi
echo "uninstall.sh: removed BitNet Studio ($removed of ${#entries[@]} manifest entries; folders still in use were kept)"
