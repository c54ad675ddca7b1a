#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --workers N]: works from a fresh clone.
# npm run bench:memory [-- --snapshots]: memory over 300,000 requests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build
if [ "${1:-}" = memory ]; then shift; exec node --import tsx bench/memory.ts "$@"; fi
exec node --import tsx bench/run.ts "$@"
