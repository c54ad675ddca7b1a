#!/usr/bin/env bash
# Downloads Debian packages of another architecture (arm64 on an amd64 host),
# each at the version this machine has installed for its own architecture, so
# both images of scripts/image.sh carry the same glibc and libstdc++ releases.
# Prints the path of each .deb, one a line, in the order given.
#
# apt runs with a PRIVATE state under .cache/debian-ARCH (lists, cache, an empty
# dpkg status, and a copy of this machine's source entries): the system's apt
# and dpkg are never changed (no dpkg --add-architecture), while the mirrors,
# proxies and trusted keys are the host's, so apt checks the signed Release
# files as usual. Every .deb, fresh or cached, is checked against the SHA256 of
# the signed index before it is printed.
#
# usage: debs.sh ARCH PACKAGE...
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "debs.sh: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: debs.sh ARCH PACKAGE..."
arch=$1
shift
for cmd in apt-get:apt apt-cache:apt dpkg-query:dpkg dpkg-deb:dpkg sha256sum:coreutils flock:util-linux; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || die "needs '${cmd%%:*}' from the Debian package ${cmd#*:}: apt-get install -y ${cmd#*:}"
done
host=$(dpkg --print-architecture)

state=$PWD/.cache/debian-$arch
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/sources.list.d" "$state/debs"
exec 8>"$state/lock"
flock 8
: > "$state/status"
# The host's enabled source entries (the .list and .sources files apt reads; the
# Signed-By keyrings they name are absolute paths, the trusted.gpg.d keys stay /etc/apt's).
rm -f "$state/sources.list.d/"*
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$state/sources.list.d/host.list"
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && cp "$f" "$state/sources.list.d/"
done
[ -n "$(ls -A "$state/sources.list.d")" ] || die "this machine has no apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d): nothing to download $arch packages from"
apt=(-o "Dir::State=$state" -o "Dir::State::lists=$state/lists" -o "Dir::State::status=$state/status"
  -o "Dir::Cache=$state/cache" -o "Dir::Cache::archives=$state/cache/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$state/sources.list.d"
  -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o "APT::Sandbox::User=root"
  -o "Acquire::Languages=none" -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false")

# pkg=version for each, at the host's installed version.
wanted=()
for pkg in "$@"; do
  version=$(dpkg-query -W -f='${Version}' "$pkg:$host" 2>/dev/null || dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) ||
    die "$pkg is not installed on this machine: its $arch twin is taken at the installed version (apt-get install -y $pkg)"
  [ -n "$version" ] || die "$pkg is not installed on this machine (apt-get install -y $pkg)"
  wanted+=("$pkg:$arch=$version")
done

# The SHA256 of PKG:ARCH=VERSION in the signed index (empty if the lists lack it).
indexed() { { apt-cache "${apt[@]}" show "$1" 2>/dev/null || true; } | awk '/^SHA256: / { print $2; exit }'; }
updated=false
for want in "${wanted[@]}"; do
  sha=$(indexed "$want")
  if [ -z "$sha" ] && ! $updated; then
    echo "debs.sh: apt-get update for $arch (private state in ${state#"$PWD"/})" >&2
    apt-get "${apt[@]}" -q update >&2 || die "apt-get update for $arch failed (are the mirrors of /etc/apt reachable?)"
    updated=true
    sha=$(indexed "$want")
  fi
  [ -n "$sha" ] || die "$want is not in the configured Debian mirrors: the host's ${want%%:*} may be newer or older than the mirror's (upgrade it: apt-get install --only-upgrade ${want%%:*})"
  name=${want%%=*} version=${want#*=}
  deb="$state/debs/${name%%:*}_${version//:/%3a}_$arch.deb"
  if ! [ -f "$deb" ] || [ "$(sha256sum < "$deb" | cut -d' ' -f1)" != "$sha" ]; then
    tmp=$(mktemp -d "$state/debs/.get.XXXXXX")
    (cd "$tmp" && apt-get "${apt[@]}" -q download "$want" >&2) || { rm -rf "$tmp"; die "apt-get download $want failed"; }
    got=("$tmp"/*.deb)
    [ "${#got[@]}" -eq 1 ] && [ -f "${got[0]}" ] || { rm -rf "$tmp"; die "apt-get download $want wrote no single .deb"; }
    mv "${got[0]}" "$deb"
    rm -rf "$tmp"
  fi
  [ "$(sha256sum < "$deb" | cut -d' ' -f1)" = "$sha" ] || die "$deb does not match the SHA256 of the signed index ($sha)"
  echo "$deb"
done
