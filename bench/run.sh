#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --workers N]: works from a fresh clone.
# npm run bench:memory [-- --snapshots]: memory over 300,000 requests.
# npm run bench -- --only ui [--quick]: the web UI's time to first render (bench/ui.ts).
# npm run bench -- --only cli [--quick] [--cli PATH]: the command line's start-up against node -e 0 (bench/cli.ts).
# npm run bench -- --only soak [--seconds N]: issue 21's three attacks at once beside an honest pull (bench/soak.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build
if [ "${1:-}" = memory ]; then shift; exec node --import tsx bench/memory.ts "$@"; fi
for arg in "$@"; do
  [ "${prev:-}" = --only ] && [ "$arg" = ui ] && exec node --import tsx bench/ui.ts "$@"
  [ "${prev:-}" = --only ] && [ "$arg" = cli ] && exec node --import tsx bench/cli.ts "$@"
  [ "${prev:-}" = --only ] && [ "$arg" = soak ] && exec node --import tsx bench/soak.ts "$@"
  [ "${prev:-}" = --only ] && only=1
  prev="$arg"
done
node --import tsx bench/run.ts "$@"
# The whole run ends with the command line's start-up (bench/cli.ts, about a minute) and, unless --quick,
# the soak (bench/soak.ts, about 3 minutes).
[ -n "${only:-}" ] || node --import tsx bench/cli.ts "$@"
case " $* " in *" --only "*|*" --quick "*) ;; *) exec node --import tsx bench/soak.ts ;; esac
