#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --workers N]: works from a fresh clone.
# npm run bench:memory [-- --snapshots]: memory over 300,000 requests.
# npm run bench -- --only ui [--quick]: the web UI's time to first render (bench/ui.ts).
# npm run bench -- --only cli [--quick] [--cli PATH]: the command line's start-up against node -e 0 (bench/cli.ts).
# npm run bench -- --only soak [--seconds N]: issue 21's three attacks at once beside an honest pull (bench/soak.ts).
# npm run bench -- --compare REV [--rounds N]: REV's gateway against the working tree's, alternating (bench/compare.ts).
# Add --node24 to any of them to run the gateways on Node 24 (the image's runtime; scripts/node24.sh) instead of this machine's node.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run build
NODE=node
args=()
for arg in "$@"; do
  if [ "$arg" = --node24 ]; then NODE="$(bash scripts/node24.sh)"; else args+=("$arg"); fi
done
set -- "${args[@]+"${args[@]}"}"

if [ "${1:-}" = memory ]; then shift; exec "$NODE" --import tsx bench/memory.ts "$@"; fi
for arg in "$@"; do
  [ "${prev:-}" = --only ] && [ "$arg" = ui ] && exec "$NODE" --import tsx bench/ui.ts "$@"
  [ "${prev:-}" = --only ] && [ "$arg" = cli ] && exec "$NODE" --import tsx bench/cli.ts "$@"
  [ "${prev:-}" = --only ] && [ "$arg" = soak ] && exec "$NODE" --import tsx bench/soak.ts "$@"
  [ "$arg" = --compare ] && exec "$NODE" --import tsx bench/compare.ts "$@"
  [ "${prev:-}" = --only ] && only=1
  prev="$arg"
done
"$NODE" --import tsx bench/run.ts "$@"
# The whole run ends with the command line's start-up (bench/cli.ts, about a minute) and, unless --quick,
# the soak (bench/soak.ts, about 3 minutes).
[ -n "${only:-}" ] || "$NODE" --import tsx bench/cli.ts "$@"
case " $* " in *" --only "*|*" --quick "*) ;; *) exec "$NODE" --import tsx bench/soak.ts ;; esac
