// The short node setup command, and the script it runs (/trust/setup).
//
// The long command (pinnedCommand in endpoint.ts) carries every step itself:
// 856 characters for registry.example.test:5443, where this one has 429. The
// short one keeps only what must happen before anything from the gateway is
// trusted: download the CA without verification, compare its SHA-256 with
// the one in the command, and only then fetch /trust/setup over TLS verified
// by that CA and run it. Nothing touches the
// disk before the check: the CA stays in a variable, is given to curl on
// standard input (--cacert /dev/stdin) and to the script in $CA, and the
// script is read whole before it runs (a cut download runs nothing).
//
// /trust/setup writes the CA and install.sh (byte for byte /trust/install.sh)
// to a private temporary directory and runs install.sh, which checks the CA
// against its own SHA-256 once more before installing it.
import type { Address } from '../bundle/address.js';

export const SETUP_PATH = '/trust/setup';
/** Ends install.sh's here-document in /trust/setup: must not be a line of install.sh. */
const END = 'REGISTRY_GATEWAY_INSTALL_SH';

/**
 * `$(...)` drops the file's one trailing newline and printf puts it back, so
 * the bytes hashed are the file's (/trust/ca.crt ends in exactly one newline).
 * Arguments after it reach install.sh (`... setup --dry-run`). A download that
 * fails says so through curl -S; a CA that is not the pinned one says so here.
 */
export function shortCommand(address: Address, caSha256: string): string {
  const url = `https://${address.name}`;
  const script = `c=$(curl -fsSk ${url}/trust/ca.crt)||exit;[ "$(printf "%s\\n" "$c"|sha256sum)" = "${caSha256}  -" ]||` +
    `{ echo "setup: not the CA this command pins: refusing it (wrong address, or the CA changed)">&2;exit 1;};` +
    `s=$(printf "%s\\n" "$c"|curl -fsS --cacert /dev/stdin ${url}${SETUP_PATH})&&CA=$c sh -c "$s" setup "$@"`;
  return `sh -c '${script}' setup`;
}

/** /trust/setup: what the short command runs once the CA is checked; install.sh is the served one, unchanged. */
export function setupScript(install: string): string {
  if (install.split('\n').includes(END)) throw new Error(`install.sh holds the line ${END}, which ends it in /trust/setup`);
  return `#!/bin/sh
# /trust/setup of registry-gateway: run by the short node setup command once it
# has checked the CA against the SHA-256 it pins and fetched this over TLS
# verified by that CA. The checked CA comes in $CA; install.sh (below, the same
# bytes as /trust/install.sh) checks it once more, then installs it.
if [ -z "\${CA:-}" ]; then
  echo "setup: run the node setup command the gateway prints (or /trust/ lists): it checks the CA, then runs this" >&2
  exit 1
fi
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
trap 'exit 1' HUP INT TERM
printf '%s\\n' "$CA" > "$d/ca.crt" || exit 1
cat > "$d/install.sh" <<'${END}' || exit 1
${install.endsWith('\n') ? install : `${install}\n`}${END}
sh "$d/install.sh" --ca "$d/ca.crt" "$@"
`;
}
