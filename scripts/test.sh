#!/usr/bin/env bash
# `npm test`: the whole suite on this machine's Node.js, then the unit tests
# and the skopeo end-to-end tests again on Node.js 24 LTS (Node 20 is past its
# end of life; the container image runs 24). Gateways the tests start run on
# the same Node as the test runner (process.execPath).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-deps.sh
npm run build
node_modules/.bin/tsc -p test/tsconfig.json

run_suite() {
  "$1" --import tsx --test --test-concurrency=2 "${@:2}"
}

echo "== suite on $(node --version)" >&2
run_suite node test/unit/*.test.ts test/integration/*.test.ts

# Set GATEWAY_TEST_NODE24=0 to skip (e.g. offline); CI always runs it.
if [ "${GATEWAY_TEST_NODE24:-1}" = 0 ]; then
  echo "== skipping the Node 24 run (GATEWAY_TEST_NODE24=0)" >&2
  exit 0
fi
node24="$(bash scripts/node24.sh)"
if [ "$(node --version | cut -d. -f1)" = "$("$node24" --version | cut -d. -f1)" ]; then
  echo "== already ran on $(node --version): no second run" >&2
  exit 0
fi
echo "== unit and skopeo end-to-end tests on $("$node24" --version)" >&2
run_suite "$node24" test/unit/*.test.ts \
  test/integration/certs-skopeo.test.ts test/integration/serve-clients.test.ts \
  test/integration/serve.test.ts test/integration/token.test.ts
