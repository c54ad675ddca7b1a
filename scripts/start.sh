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
exec node dist/cli/main.js up "$@"
