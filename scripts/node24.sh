#!/usr/bin/env bash
# Prints the path of a Node.js 24 LTS binary, fetched once from the npm
# registry's node-linux-ARCH package (no other download site is reachable from
# CI) into .cache/. The version and each architecture's integrity are pinned
# here: CI and the container image (scripts/image.sh) use exactly this runtime.
#
# usage: node24.sh [x64|arm64]     (default x64)
# The arm64 binary is only downloaded and checked, never run: this works on
# x86_64 (scripts/image.sh builds the arm64 image there).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.22.3
# npm view node-linux-ARCH@VERSION dist.integrity (and checked against the tarball below).
declare -A NODE24_INTEGRITY=(
  [x64]='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
  [arm64]='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=='
)
# The ELF machine readelf -h names for each (what the binary must be).
declare -A NODE24_MACHINE=([x64]='Advanced Micro Devices X86-64' [arm64]='AArch64')

die() { echo "node24.sh: $*" >&2; exit 1; }
[ $# -le 1 ] || die "usage: node24.sh [x64|arm64]"
arch=${1:-x64}
[ -n "${NODE24_INTEGRITY[$arch]:-}" ] || die "unknown architecture '$arch': give x64 or arm64"
integrity=${NODE24_INTEGRITY[$arch]}
package=node-linux-$arch

dir=".cache/$package-$NODE24_VERSION"
# One fetch at a time: parallel image builds (and test runs) call this
# together in a fresh clone, and one must not remove what another is using.
mkdir -p .cache
exec 9>.cache/node24.lock
flock 9
if [ ! -x "$dir/bin/node" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity; we check it against ours.
  tarball="$(npm pack --silent --pack-destination "$tmp" "$package@$NODE24_VERSION" | tail -1)" ||
    die "npm pack $package@$NODE24_VERSION failed (is the npm registry reachable?)"
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tarball" | base64 -w0)"
  [ "$got" = "$integrity" ] || die "$package@$NODE24_VERSION has integrity $got, expected $integrity; refusing it"
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$tarball" -C "$tmp/x"
  rm -rf "$dir"
  mv "$tmp/x/package" "$dir"
fi
# Runs it only where it can run natively; elsewhere checks it is an ELF for its architecture.
declare -A native=([x86_64]=x64 [aarch64]=arm64)
if [ "${native[$(uname -m)]:-}" = "$arch" ]; then
  "$dir/bin/node" --version >/dev/null || die "$dir/bin/node does not run"
elif command -v readelf >/dev/null 2>&1; then
  machine=$(LC_ALL=C readelf -h "$dir/bin/node" | sed -n 's/^ *Machine: *//p')
  [ "$machine" = "${NODE24_MACHINE[$arch]}" ] || die "$dir/bin/node is for '$machine', not ${NODE24_MACHINE[$arch]}"
fi
echo "$PWD/$dir/bin/node"
