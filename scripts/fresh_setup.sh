#!/usr/bin/env bash
# `make setup` as on a fresh machine, timed: a new clone of this repository, a new
# virtualenv, and empty uv, pip and model caches (the OS and its python3 are the
# machine's). Writes reports/fresh_setup.txt, which the README quotes.
#   scripts/fresh_setup.sh        (~6 min on 2 idle cores, ~4 GB of scratch under /tmp)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/medinstruct-fresh.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$repo" "$scratch/repo"
cd "$scratch/repo"
python3 -m venv .venv
. .venv/bin/activate
export UV_CACHE_DIR="$scratch/uv-cache" MEDINSTRUCT_MODEL_CACHE="$scratch/models" PIP_NO_CACHE_DIR=1
start=$(date +%s)
if ! make setup > "$scratch/setup.log" 2>&1; then
    tail -50 "$scratch/setup.log"
    exit 1
fi
wall=$(( $(date +%s) - start ))
mkdir -p "$repo/reports"
{
    echo "make setup on a fresh clone, new venv, empty uv/pip/model caches: ${wall} s"
    grep -E "^(Prepared|Installed) [0-9]+ packages? in" "$scratch/setup.log"
} | tee "$repo/reports/fresh_setup.txt"
