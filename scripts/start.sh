#!/usr/bin/env bash
# `npm start`: the quick start. Sets up what is missing and runs the gateway
# (gateway up). Without a configured upstream it runs a local docker-registry,
# installing Debian's package first when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/main.js ] || npm run build
if ! command -v docker-registry >/dev/null 2>&1 && ! grep -qE '^upstream:' config/gateway.yaml 2>/dev/null && [[ " $* " != *" --upstream "* ]]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing docker-registry (the local upstream registry)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
  else
    echo "no upstream is configured and docker-registry is missing: run 'sudo apt-get install -y docker-registry', or pass --upstream URL" >&2
    exit 1
  fi
fi
# npm runs its script under `sh -c` and forwards SIGTERM and SIGINT to that sh
# only: unless the script line itself `exec`s, the gateway's node process (this
# script, after exec) never sees them. On SIGTERM the sh dies, npm exits, and
# node would be left running with its local registry. So the gateway stops when the process that
# started it goes away: setpriv (util-linux) has the kernel send SIGINT then,
# and GATEWAY_PARENT_PID lets the gateway notice it by itself where setpriv is
# missing or refused. SIGINT, not SIGTERM: a SIGTERM to the whole group reaches
# node directly too, and with --workers the primary acts on each signal once.
export GATEWAY_PARENT_PID=$PPID
if command -v setpriv >/dev/null 2>&1 && setpriv --pdeathsig INT true 2>/dev/null; then
  exec setpriv --pdeathsig INT node dist/cli/main.js up "$@"
fi
exec node dist/cli/main.js up "$@"
