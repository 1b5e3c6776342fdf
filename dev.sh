#!/usr/bin/env bash
# The front door. On a fresh machine with Python ≥ 3.10:
#   ./dev.sh check [deltaproof check options]   set up .venv, then run the claim check on the CPU
#   ./dev.sh test  [pytest options]             set up .venv with the dev extra, then run the test suite
#   ./dev.sh notebooks                          set up .venv with the notebooks extra, then open JupyterLab on notebooks/
#   ./dev.sh mutants [NAME ...]                 plant each deliberate bug of tests/mutants.py; which claims/tests catch it
#   ./dev.sh setup [extras]                     only set up (extras: dev, notebooks, fla; comma-separated)
#
# torch: on a machine without an NVIDIA GPU the setup installs a CPU build, torch==2.13.0 (on these
# machines that file lies on disk; elsewhere set DELTAPROOF_TORCH_INDEX=https://download.pytorch.org/whl/cpu
# to take the CPU wheel from PyTorch's index instead of PyPI's CUDA build). Override the choice with
#   DELTAPROOF_TORCH='torch==2.x.y'   any pip requirement for torch
#   DELTAPROOF_TORCH_INDEX=URL        pip --index-url for torch only
# A torch already in the venv is kept. DELTAPROOF_VENV picks the venv folder (default .venv, relative to
# this folder), PYTHON the interpreter that creates it (default python3). `check` runs in the caller's
# folder, so relative paths (--json out.json) land where you are; the others run in this folder.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)

venv=${DELTAPROOF_VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
python=${PYTHON:-python3}

setup() {
  local extras=$1
  local stamp="$venv/.deltaproof-setup-$extras-$(cksum < "$root/pyproject.toml" | cut -d' ' -f1)"
  [ -f "$stamp" ] && return 0
  "$python" -c 'import sys; assert sys.version_info >= (3, 10), f"Python >= 3.10 needed, this is {sys.version}"'
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  local pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
  if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    local spec=${DELTAPROOF_TORCH:-}
    if [ -z "$spec" ]; then
      if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        spec=torch
      else
        spec=torch==2.13.0
      fi
    fi
    echo "setup: installing $spec into $venv" >&2
    if [ -n "${DELTAPROOF_TORCH_INDEX:-}" ]; then
      "${pip[@]}" --index-url "$DELTAPROOF_TORCH_INDEX" "$spec"
    else
      "${pip[@]}" "$spec"
    fi
  fi
  echo "setup: installing deltaproof[$extras] into $venv" >&2
  "${pip[@]}" -e "$root[$extras]"
  rm -f "$venv"/.deltaproof-setup-*
  touch "$stamp"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  check)
    setup dev
    exec "$venv/bin/deltaproof" check "$@"
    ;;
  test)
    setup dev
    cd "$root"
    exec "$venv/bin/python" -m pytest "$@"
    ;;
  mutants)
    setup dev
    cd "$root"
    exec "$venv/bin/python" tests/mutants.py "$@"
    ;;
  notebooks)
    setup dev,notebooks
    cd "$root"
    exec "$venv/bin/jupyter" lab notebooks/ "$@"
    ;;
  setup)
    setup "${1:-dev}"
    ;;
  "" | -h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    echo "dev.sh: unknown command '$command' (expected check, test, notebooks, mutants or setup; ./dev.sh --help)" >&2
    exit 2
    ;;
esac
