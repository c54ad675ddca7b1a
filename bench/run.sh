#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --workers N]: works from a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build
exec node --import tsx bench/run.ts "$@"
