#!/usr/bin/env bash
# Installs the real software the test suite drives (Debian packages), when it
# is missing. Runs as the first step of `npm test`; needs root to install.
set -euo pipefail

declare -A packages=(
  [openssl]=openssl
  [docker-registry]=docker-registry
  [skopeo]=skopeo
  [umoci]=umoci
  [htpasswd]=apache2-utils
  [dockerd]=docker.io
  [containerd]=containerd
  [ctr]=containerd
  [ip]=iproute2
  [ss]=iproute2
  [tar]=tar
  [curl]=curl
  [unshare]=util-linux
  [mount]=mount
  [redis-server]=redis-server
  [haproxy]=haproxy
  [prometheus]=prometheus
  [promtool]=prometheus
  [redis-cli]=redis-tools
  [podman]=podman
  [buildah]=buildah
  [crun]=crun
  [runc]=runc
  [newuidmap]=uidmap
  [slirp4netns]=slirp4netns
  [useradd]=passwd
  [runuser]=util-linux
  [nsenter]=util-linux
  [setpriv]=util-linux
  [chromium]=chromium
  [go]=golang-go
  [zsh]=zsh
  [fish]=fish
  [qemu-aarch64-static]=qemu-user-static
  [readelf]=binutils
)

missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
# One package may provide several commands.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
