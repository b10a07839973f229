#!/usr/bin/env bash
# Installs BitNet Studio from this unpacked archive for the current user (no root needed).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./install.sh [--help]

Installs BitNet Studio for the current user, no root needed:
  program      $XDG_DATA_HOME/bitnet-studio/<version>/   (XDG_DATA_HOME: ~/.local/share)
  command      ~/.local/bin/bitnet-studio                (a link to the program)
  menu entry   $XDG_DATA_HOME/applications/bitnet-studio.desktop
  icons        $XDG_DATA_HOME/icons/hicolor/*/apps/bitnet-studio.{png,svg}
Everything it creates is listed in $XDG_DATA_HOME/bitnet-studio/manifest.txt, which
uninstall.sh (here, or in the program folder) removes again. An earlier installation
is uninstalled first.
EOF
}
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(cat "$here/VERSION")
data=${XDG_DATA_HOME:-$HOME/.local/share}
prefix=$data/bitnet-studio
dest=$prefix/$version
program=$dest/bitnet-studio/bitnet-studio
link=$HOME/.local/bin/bitnet-studio
desktop=$data/applications/bitnet-studio.desktop
icons=$data/icons/hicolor
manifest=$prefix/manifest.txt
die() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$here/bitnet-studio/bitnet-studio" ] || die "$here/bitnet-studio/bitnet-studio is missing: unpack the whole archive"
case "$program" in
  *[\"\`\$\\%]*) die "the install path $dest has a character a menu entry cannot carry (\" \` \$ \\ %); set XDG_DATA_HOME" ;;
esac
if [ -f "$manifest" ]; then
  echo "install.sh: removing the earlier installation first"
  bash "$here/uninstall.sh"
fi
for path in "$dest/bitnet-studio" "$link" "$desktop"; do
  if [ -e "$path" ] || [ -L "$path" ]; then die "$path exists and is not ours: move it away first"; fi
done

pending=() # what was created before the manifest could be written
record() {
  if [ -f "$manifest" ]; then echo "$1" >>"$manifest"; else pending+=("$1"); fi
}
# mkdir -p that records each folder it creates, outermost first
make_dir() {
  [ -d "$1" ] && return 0
  make_dir "$(dirname "$1")"
  mkdir "$1"
  record "dir $1"
}
finished=0
undo() {
  [ "$finished" = 1 ] && return
  echo "install.sh: failed; undoing what was done" >&2
  bash "$here/uninstall.sh" >&2 || true
}
trap undo EXIT

make_dir "$prefix"
printf '%s\n' "# bitnet-studio $version: what install.sh created (uninstall.sh reads it)" "${pending[@]}" >"$manifest"

echo "install.sh: copying the program to $dest"
make_dir "$dest"
record "tree $dest/bitnet-studio"
cp -a "$here/bitnet-studio" "$dest/"
record "file $dest/uninstall.sh"
cp "$here/uninstall.sh" "$dest/uninstall.sh"

make_dir "$(dirname "$link")"
record "link $link"
ln -s "$program" "$link"

make_dir "$(dirname "$desktop")"
record "file $desktop"
sed -e "s|@EXEC@|\"$program\"|" -e "s|@TRYEXEC@|$program|" "$here/bitnet-studio.desktop" >"$desktop"

source_icons=$here/bitnet-studio/_internal/resources/icons/hicolor
for icon in "$source_icons"/*/apps/bitnet-studio.*; do
  target=$icons/${icon#"$source_icons"/}
  make_dir "$(dirname "$target")"
  record "file $target"
  cp "$icon" "$target"
done

# Menu and icon caches: refreshed when the tools exist; failures do not matter. A cache this
# script creates is in the manifest. A user icon cache is only refreshed, never created: a
# stale one would hide icons that later installs add without refreshing it.
apps_cache=$data/applications/mimeinfo.cache
if command -v update-desktop-database >/dev/null; then
  [ -e "$apps_cache" ] || record "file $apps_cache"
  update-desktop-database "$data/applications" 2>/dev/null || true
fi
if [ -f "$icons/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null; then
  gtk-update-icon-cache -f -t -q "$icons" 2>/dev/null || true
fi
finished=1

echo "install.sh: installed BitNet Studio $version"
echo "  program     $program"
echo "  command     $link"
echo "  menu entry  $desktop"
echo "  uninstall   $dest/uninstall.sh"
case ":$PATH:" in
  *":$(dirname "$link"):"*) ;;
  *) echo "note: $(dirname "$link") is not on your PATH; start it from the menu or as $link" ;;
esac
