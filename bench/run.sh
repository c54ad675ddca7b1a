#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --workers N]: works from a fresh clone.
# npm run bench:memory [-- --snapshots]: memory over 300,000 requests.
# npm run bench -- --only ui [--quick]: the web UI's time to first render (bench/ui.ts).
# npm run bench -- --only soak [--seconds N]: issue 21's three attacks at once beside an honest pull (bench/soak.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build
if [ "${1:-}" = memory ]; then shift; exec node --import tsx bench/memory.ts "$@"; fi
for arg in "$@"; do [ "${prev:-}" = --only ] && [ "$arg" = ui ] && exec node --import tsx bench/ui.ts "$@"; prev="$arg"; done
prev=; for arg in "$@"; do [ "${prev:-}" = --only ] && [ "$arg" = soak ] && exec node --import tsx bench/soak.ts "$@"; prev="$arg"; done
node --import tsx bench/run.ts "$@"
# The full run ends with the soak (not with --only, not with --quick).
case " $* " in *" --only "*|*" --quick "*) ;; *) exec node --import tsx bench/soak.ts ;; esac
