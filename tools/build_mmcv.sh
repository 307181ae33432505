#!/usr/bin/env bash
# Builds (once) and installs mmcv $MMCV_VERSION with compiled ops into the venv of $PY.
# Called by tools/install.sh, which exports PY, PIP, MMCV_VERSION and MMCV_CACHE.
set -euo pipefail
mkdir -p "$MMCV_CACHE"
wheel=$(ls "$MMCV_CACHE"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  echo "no cached wheel in $MMCV_CACHE: compiling mmcv $MMCV_VERSION (about 20 minutes on 2 cores)"
  $PIP download --no-deps --no-binary :all: --no-build-isolation -d "$src" "mmcv==$MMCV_VERSION"
  tar -xzf "$src"/mmcv-"$MMCV_VERSION".tar.gz -C "$src"
  cd "$src/mmcv-$MMCV_VERSION"
  # torch>=2.10 headers refuse anything older than C++20.
  sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' setup.py
  grep -q 'c++20' setup.py
  export MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  # No debug info: halves compile time and shrinks the wheel.
  export CFLAGS="${CFLAGS:-} -g0" CXXFLAGS="${CXXFLAGS:-} -g0"
  $PIP wheel --no-build-isolation --no-deps -v -w "$src/dist" .
  cp "$src"/dist/mmcv-*.whl "$MMCV_CACHE/"
  wheel=$(ls "$MMCV_CACHE"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
fi
echo "installing $wheel"
$PIP install "$wheel"
