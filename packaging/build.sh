#!/usr/bin/env bash
# Builds the desktop bundle (`make bundle`): PyInstaller one-folder program from
# packaging/bitnet-studio.spec, plus install.sh, uninstall.sh, the .desktop entry and VERSION,
# packed as dist/bitnet-studio-<version>-linux-<arch>.tar.gz. Work files go to build/bundle/
# (wiped first); the last lines say the build time and the sizes. BITNET_STUDIO_DIST and
# BITNET_STUDIO_BUNDLE_WORK move the two folders (the bundle test builds in a temporary one).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${BITNET_STUDIO_VENV:-$(bash "$root/scripts/env.sh")}
cd "$root"
version=$("$venv/bin/python" -c 'import bitnet_studio; print(bitnet_studio.__version__)')
name=bitnet-studio-$version-linux-$(uname -m)
work=${BITNET_STUDIO_BUNDLE_WORK:-$root/build/bundle}
dist=${BITNET_STUDIO_DIST:-$root/dist}
start=$(date +%s)
rm -rf "$work"
mkdir -p "$work" "$dist"

"$venv/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --workpath "$work/pyinstaller" --distpath "$work/dist" packaging/bitnet-studio.spec

stage=$work/$name
mkdir "$stage"
mv "$work/dist/bitnet-studio" "$stage/bitnet-studio"
cp packaging/install.sh packaging/uninstall.sh packaging/bitnet-studio.desktop "$stage/"
echo "$version" > "$stage/VERSION"
archive=$dist/$name.tar.gz
tar -C "$work" -czf "$archive.part" "$name"
mv "$archive.part" "$archive"

mib() { echo "$(( ($1 + 524288) / 1048576 )) MiB"; }
echo "bundle: built $archive in $(( $(date +%s) - start )) s"
echo "bundle: archive $(mib "$(stat -c %s "$archive")"), unpacked $(mib "$(du -sb "$stage" | cut -f1)")"
