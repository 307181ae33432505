#!/usr/bin/env bash
# Idempotent installer for slim_plugins on the pinned OpenMMLab stack.
#
# Usage: bash tools/install.sh            (or `make install`)
# Environment:
#   VENV              virtual environment to create/use (default: .venv)
#   PYTHON            interpreter used to create it (default: python3.11)
#   SLIM_WHEEL_CACHE  where the compiled mmcv wheel is cached
#                     (default: ~/.cache/slim_plugins/wheels)
#   MAX_JOBS          parallel compile jobs for mmcv (default: number of cores)
#
# mmcv 2.1.0 has no binary wheel on PyPI, so its sdist is compiled once with ops
# (C++ standard raised to C++20 for torch>=2.10 headers, no debug info) and the
# wheel is cached outside the repository; later runs reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PYTHON="${PYTHON:-python3.11}"
CACHE="${SLIM_WHEEL_CACHE:-$HOME/.cache/slim_plugins/wheels}"
LOG_DIR="$VENV/install-logs"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMPRETRAIN_VERSION=1.2.0
MMDET_VERSION=3.3.0
TOTAL_STEPS=7
STEP=0

step() {
  # step NAME CHECK_CMD INSTALL_CMD: runs INSTALL_CMD (logged) unless CHECK_CMD succeeds.
  local name="$1" check="$2" install="$3"
  STEP=$((STEP + 1))
  local log="$LOG_DIR/$(printf '%02d' "$STEP")-${name// /_}.log"
  # Checks run outside the repo, so that the checkout itself on sys.path
  # cannot pass for an installed package.
  if (cd / && bash -c "$check") >/dev/null 2>&1; then
    printf '[%d/%d] %-28s already done\n' "$STEP" "$TOTAL_STEPS" "$name"
    return 0
  fi
  printf '[%d/%d] %-28s ... ' "$STEP" "$TOTAL_STEPS" "$name"
  local start=$SECONDS
  if bash -c "$install" >"$log" 2>&1; then
    printf 'done (%ds)\n' "$((SECONDS - start))"
  else
    printf 'FAILED\n'
    echo "install step '$name' failed; last lines of its log $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || { echo "error: '$PYTHON' not found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
  "$PYTHON" -m venv "$VENV"
fi
mkdir -p "$LOG_DIR" "$CACHE"
PY="$VENV/bin/python"
PIP="$PY -m pip --disable-pip-version-check"
export PIP PY CACHE MMCV_VERSION

step "build tools" \
  "$PY -c 'import setuptools, wheel, ninja; from packaging.version import Version as V; assert V(\"77\") <= V(setuptools.__version__) < V(\"81\")'" \
  "$PIP install 'setuptools>=77,<81' wheel ninja packaging"

step "torch $TORCH_VERSION" \
  "$PY -c 'import torch, torchvision; assert torch.__version__.split(\"+\")[0] == \"$TORCH_VERSION\" and torchvision.__version__.split(\"+\")[0] == \"$TORCHVISION_VERSION\"'" \
  "$PIP install torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"

step "mmengine $MMENGINE_VERSION" \
  "$PY -c 'import mmengine; assert mmengine.__version__ == \"$MMENGINE_VERSION\"'" \
  "$PIP install mmengine==$MMENGINE_VERSION"

# The cached wheel is specific to the torch it was compiled against.
MMCV_CACHE="$CACHE/torch$TORCH_VERSION-$($PY -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
export MMCV_CACHE
step "mmcv $MMCV_VERSION (ops)" \
  "$PY -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == \"$MMCV_VERSION\"'" \
  "bash '$ROOT/tools/build_mmcv.sh'"

step "mmpretrain + mmdet" \
  "$PY -c 'import mmpretrain, mmdet, matplotlib, tqdm, tensorboard, kymatio.torch; assert mmpretrain.__version__ == \"$MMPRETRAIN_VERSION\" and mmdet.__version__ == \"$MMDET_VERSION\"'" \
  "$PIP install mmpretrain==$MMPRETRAIN_VERSION mmdet==$MMDET_VERSION -r '$ROOT/requirements/optional.txt'"

step "test tools" \
  "$PY -c 'import pytest, flake8, isort, yapf, pytest_timeout'" \
  "$PIP install -r '$ROOT/requirements/tests.txt'"

step "slim_plugins (editable)" \
  "$PY -c 'import slim_plugins, os, sys; sys.exit(0 if os.path.dirname(os.path.dirname(slim_plugins.__file__)) == \"$ROOT\" else 1)'" \
  "cd '$ROOT' && $PIP install --no-build-isolation --no-deps -e ."

echo "slim_plugins is installed in $VENV (logs: $LOG_DIR)"
