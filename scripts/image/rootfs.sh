#!/usr/bin/env bash
# The base of the gateway's image, assembled in DEST: a Node.js binary, the
# shared libraries it loads, the gateway user (uid 65532) and the mount points
# of the config, certificates and users. No shell, no package manager: the
# image runs node and nothing else.
#
# The libraries come from Debian packages and are checked against their md5sums:
#   - for this machine's architecture (the default), the installed packages:
#     ldd names the files, dpkg -S their packages;
#   - for another one (--arch arm64 on an amd64 host), that architecture's .debs
#     at the versions installed here (scripts/image/debs.sh: a private apt state,
#     the system is not changed): readelf names what the binary needs (NEEDED,
#     and its ELF interpreter), the files come from the unpacked .debs. The
#     foreign binary never runs.
#
# Used by scripts/image.sh (on this machine) and by the Containerfile's base
# stage (inside node:24-bookworm-slim), so both images hold the same files.
#
# usage: rootfs.sh [--arch DEBIAN_ARCH] NODE_BINARY DEST
set -euo pipefail

die() { echo "rootfs.sh: $*" >&2; exit 1; }
usage="usage: rootfs.sh [--arch amd64|arm64] NODE_BINARY DEST"
arch=
if [ "${1:-}" = --arch ]; then
  [ $# -ge 2 ] || die "$usage"
  arch=$2
  shift 2
fi
[ $# -eq 2 ] || die "$usage"
node=$1 dest=$2
for cmd in dpkg-query:dpkg md5sum:coreutils awk:mawk; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || die "needs '${cmd%%:*}' from the Debian package ${cmd#*:}: apt-get install -y ${cmd#*:}"
done
host=$(dpkg --print-architecture)
arch=${arch:-$host}
declare -A triplets=([amd64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu)
[ -n "${triplets[$arch]:-}" ] || die "unknown architecture '$arch': give amd64 or arm64"
foreign=false
[ "$arch" = "$host" ] || foreign=true
if $foreign; then
  [ -f "$node" ] || die "$node is not a Node.js binary"
  for cmd in readelf:binutils dpkg-deb:dpkg; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || die "needs '${cmd%%:*}' from the Debian package ${cmd#*:}: apt-get install -y ${cmd#*:}"
  done
else
  [ -x "$node" ] || die "$node is not an executable Node.js binary"
  command -v ldd >/dev/null 2>&1 || die "needs 'ldd' from the Debian package libc-bin: apt-get install -y libc-bin"
fi
mkdir -p "$dest"
[ -z "$(ls -A "$dest")" ] || die "$dest is not empty: give a new directory"

# Debian's merged /usr: the node binary asks for /lib64/ld-linux-x86-64.so.2,
# which (like every library path below) resolves through these links.
mkdir -p "$dest/usr/lib" "$dest/usr/lib64" "$dest/usr/local/bin" "$dest/etc"
ln -s usr/lib "$dest/lib"
ln -s usr/lib64 "$dest/lib64"

install -m 0755 "$node" "$dest/usr/local/bin/node"
license="$(dirname "$node")/../LICENSE"
if [ -f "$license" ]; then
  install -D -m 0644 "$license" "$dest/usr/local/share/doc/node/LICENSE"
fi

# The Debian package that installed PATH ("libc6:amd64"), trying the path as
# given and its merged-/usr twin (dpkg records /lib/... for files in /usr/lib/...).
owner() {
  local p=$1 alt
  case $p in /usr/*) alt=${p#/usr} ;; *) alt=/usr$p ;; esac
  for candidate in "$p" "$alt"; do
    local line
    if line=$(dpkg-query -S "$candidate" 2>/dev/null); then
      echo "${line%%: *} $candidate"
      return 0
    fi
  done
  return 1
}

# Refuses a file that differs from what its package shipped.
verify() {
  local pkg=$1 registered=$2 file=$3 sums want got
  sums=$(dpkg-query --control-path "$pkg" md5sums 2>/dev/null) || die "no md5sums for $pkg: cannot check $file"
  want=$(awk -v p="${registered#/}" '$2 == p { print $1 }' "$sums")
  [ -n "$want" ] || die "$pkg's md5sums do not list $registered"
  got=$(md5sum < "$file" | cut -d' ' -f1)
  [ "$want" = "$got" ] || die "$file differs from what $pkg installed (md5 $got, expected $want): reinstall $pkg"
}

packages=()
# Copies PATH into DEST at the same place, following its chain of symlinks
# (libstdc++.so.6 -> libstdc++.so.6.0.30) so every link and its target land.
copy_chain() {
  local p=$1 hops=0
  while :; do
    local dir target
    dir=$(realpath "$(dirname "$p")")
    target="$dest$dir/$(basename "$p")"
    mkdir -p "$(dirname "$target")"
    if [ -L "$p" ]; then
      [ -e "$target" ] || [ -L "$target" ] || ln -s "$(readlink "$p")" "$target"
      local next
      next=$(readlink "$p")
      case $next in /*) p=$next ;; *) p="$dir/$next" ;; esac
      hops=$((hops + 1))
      [ $hops -lt 10 ] || die "too many symlinks from $1"
      continue
    fi
    [ -f "$p" ] || die "$p (needed by $node) is not a file"
    local found pkg registered
    found=$(owner "$p") || die "$p (needed by $node) belongs to no installed Debian package: install the package that ships it (dpkg -S finds none)"
    pkg=${found%% *} registered=${found#* }
    verify "$pkg" "$registered" "$p"
    install -m 0644 "$p" "$target"
    case $(basename "$p") in ld-linux*) chmod 0755 "$target" ;; esac
    packages+=("$pkg")
    return 0
  done
}

native_libraries() {
  # ldd prints "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the
  # loader as "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
  libs=$(ldd "$node") || die "ldd $node failed: is it a dynamically linked binary for this machine?"
  if grep -q 'not found' <<<"$libs"; then
    die "$node needs libraries this machine lacks: $(grep 'not found' <<<"$libs" | tr -s ' \t' ' ')"
  fi
  mapfile -t paths < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs" | sort -u)
  [ "${#paths[@]}" -gt 0 ] || die "ldd named no library files for $node: $libs"
  for path in "${paths[@]}"; do
    copy_chain "$path"
  done

  # What the libraries are, for licences and for scanners (trivy, grype read
  # distroless-style /var/lib/dpkg/status.d and /etc/os-release).
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  mkdir -p "$dest/var/lib/dpkg/status.d"
  for pkg in "${packages[@]}"; do
    name=${pkg%%:*}
    dpkg-query -s "$pkg" > "$dest/var/lib/dpkg/status.d/$name"
    if [ -f "/usr/share/doc/$name/copyright" ]; then
      install -D -m 0644 "/usr/share/doc/$name/copyright" "$dest/usr/share/doc/$name/copyright"
    else
      echo "rootfs.sh: warning: /usr/share/doc/$name/copyright is missing; the image lacks $name's licence text" >&2
    fi
  done
}

# Another architecture's libraries, from its .debs (never from this machine's files).
foreign_libraries() {
  local work sys triplet=${triplets[$arch]} host_triplet=${triplets[$host]:-}
  [ -n "$host_triplet" ] || die "this machine's architecture '$host' is not one rootfs.sh knows (amd64, arm64)"
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  sys=$work/sys
  mkdir -p "$sys" "$work/ctl"
  local -A fetched=()
  # Unpacks PKG's .deb of $arch (at the host's version) into $sys, its control files into $work/ctl/PKG.
  fetch() {
    local pkg=$1 deb
    [ -z "${fetched[$pkg]:-}" ] || return 0
    deb=$(bash "$(dirname "$0")/debs.sh" "$arch" "$pkg") || die "could not get $pkg for $arch (scripts/image/debs.sh said why above)"
    dpkg-deb -x "$deb" "$sys" || die "dpkg-deb -x $deb failed"
    dpkg-deb -e "$deb" "$work/ctl/$pkg" || die "dpkg-deb -e $deb failed"
    fetched[$pkg]=$deb
  }
  # The host package that ships SONAME for the host's own architecture: its
  # $arch twin ships it for $arch (libc6, libstdc++6, libgcc-s1...).
  host_package() {
    local line candidate
    for candidate in "/lib/$host_triplet/$1" "/usr/lib/$host_triplet/$1"; do
      line=$(dpkg-query -S "$candidate" 2>/dev/null | head -1) || continue
      line=${line%%: *}
      echo "${line%%:*}"
      return 0
    done
    return 1
  }
  # The package whose md5sums list PATH (relative, as in the .deb), and the checksum.
  shipped() {
    local rel=${1#/} pkg
    for pkg in "${!fetched[@]}"; do
      local sum
      sum=$(awk -v p="$rel" '$2 == p { print $1 }' "$work/ctl/$pkg/md5sums" 2>/dev/null)
      if [ -n "$sum" ]; then echo "$pkg $sum"; return 0; fi
    done
    return 1
  }
  # Refuses /PATH of the unpacked packages unless its package's md5sums list it as it is; prints that package.
  checked() {
    local found got
    found=$(shipped "$1") || die "$1 is in no md5sums of the $arch packages ${!fetched[*]}: cannot check it"
    got=$(md5sum < "$sys$1" | cut -d' ' -f1)
    [ "$got" = "${found#* }" ] || die "$1 of ${found%% *}:$arch differs from its md5sums (md5 $got, expected ${found#* })"
    echo "${found%% *}"
  }
  # Copies /PATH of the unpacked packages into DEST at the same place, following
  # its symlinks; an ELF file's NEEDED names go on the list to resolve.
  copy_foreign() {
    local p=$1 hops=0
    while :; do
      mkdir -p "$(dirname "$dest$p")"
      if [ -L "$sys$p" ]; then
        local next
        next=$(readlink "$sys$p")
        [ -e "$dest$p" ] || [ -L "$dest$p" ] || ln -s "$next" "$dest$p"
        case $next in /*) p=$next ;; *) p="$(dirname "$p")/$next" ;; esac
        p=$(realpath -m -s "$p")
        hops=$((hops + 1))
        [ $hops -lt 10 ] || die "too many symlinks from $1"
        continue
      fi
      [ -f "$sys$p" ] || die "$p is not a file of the $arch packages ${!fetched[*]}"
      local pkg
      pkg=$(checked "$p")
      [ -e "$dest$p" ] && return 0
      install -m 0644 "$sys$p" "$dest$p"
      case $(basename "$p") in ld-linux*) chmod 0755 "$dest$p" ;; esac
      packages+=("$pkg")
      mapfile -t -O "${#queue[@]}" queue < <(needed "$sys$p")
      return 0
    done
  }
  # The NEEDED sonames of an ELF file (readelf -d: nothing runs).
  needed() { LC_ALL=C readelf -d "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'; }
  # Where the loader looks for SONAME (Debian's multiarch directories first).
  locate() {
    local dir
    for dir in "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib; do
      if [ -e "$sys$dir/$1" ] || [ -L "$sys$dir/$1" ]; then echo "$dir/$1"; return 0; fi
    done
    return 1
  }

  local machine interp want
  machine=$(LC_ALL=C readelf -h "$node" 2>/dev/null | sed -n 's/^ *Machine: *//p') || true
  case $arch:$machine in
    arm64:AArch64 | amd64:'Advanced Micro Devices X86-64') ;;
    *) die "$node is an ELF for '${machine:-nothing readelf knows}', not for $arch" ;;
  esac
  interp=$(LC_ALL=C readelf -l "$node" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
  [ -n "$interp" ] || die "$node has no ELF interpreter: a statically linked node is not what this script expects"
  # The loader is glibc's: the package of this machine's own loader (libc6).
  local loader_pkg host_interp
  host_interp=$(LC_ALL=C readelf -l /bin/sh | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
  loader_pkg=$(host_package "$(basename "$host_interp")") ||
    die "cannot tell which package ships this machine's ELF interpreter $host_interp (dpkg -S)"
  fetch "$loader_pkg"
  queue=()
  copy_foreign "$interp"
  mapfile -t -O "${#queue[@]}" queue < <(needed "$node")
  local -A done_=()
  while [ "${#queue[@]}" -gt 0 ]; do
    want=${queue[0]}
    queue=("${queue[@]:1}")
    [ -z "${done_[$want]:-}" ] || continue
    done_[$want]=1
    local path pkg
    if ! path=$(locate "$want"); then
      pkg=$(host_package "$want") || die "$node needs $want, which no $host package installed here ships (dpkg -S): install the package that has it, so its $arch twin can be fetched"
      fetch "$pkg"
      path=$(locate "$want") || die "$want is not in $pkg:$arch (looked in /lib/$triplet, /usr/lib/$triplet, /lib, /usr/lib)"
    fi
    copy_foreign "$path"
  done

  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  mkdir -p "$dest/var/lib/dpkg/status.d"
  local name doc
  for name in "${packages[@]}"; do
    # As dpkg-query -s prints an installed package: its control file with a Status line.
    awk '{ print } /^Package: / && !s { print "Status: install ok installed"; s = 1 }' "$work/ctl/$name/control" > "$dest/var/lib/dpkg/status.d/$name"
    # libstdc++6's doc directory is a link to gcc-12-base's: the copyright is that package's.
    doc=$name
    if [ -L "$sys/usr/share/doc/$name" ]; then
      doc=$(basename "$(readlink "$sys/usr/share/doc/$name")")
      fetch "$doc"
    fi
    if [ -f "$sys/usr/share/doc/$doc/copyright" ] && ! [ -L "$sys/usr/share/doc/$doc/copyright" ]; then
      checked "/usr/share/doc/$doc/copyright" >/dev/null
      install -D -m 0644 "$sys/usr/share/doc/$doc/copyright" "$dest/usr/share/doc/$name/copyright"
    else
      echo "rootfs.sh: warning: $name:$arch has no /usr/share/doc/$doc/copyright; the image lacks $name's licence text" >&2
    fi
  done
}

if $foreign; then foreign_libraries; else native_libraries; fi
[ -f /etc/os-release ] && install -m 0644 /etc/os-release "$dest/etc/os-release"
[ -f /etc/debian_version ] && install -m 0644 /etc/debian_version "$dest/etc/debian_version"

# uid/gid 65532, the usual non-root id of minimal images (distroless "nonroot").
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'gateway:x:65532:65532:registry-gateway:/nonexistent:/sbin/nologin' > "$dest/etc/passwd"
printf '%s\n' 'root:x:0:' 'gateway:x:65532:' > "$dest/etc/group"
# glibc's built-in files and dns lookups; /etc/hosts and /etc/resolv.conf come from the runtime.
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' > "$dest/etc/nsswitch.conf"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group" "$dest/etc/nsswitch.conf"

# Mount points of the contract's paths, so a read-only root needs no new
# directory at start; /app is root's, read-only to the gateway.
for d in config certs users token redis; do mkdir -p "$dest/etc/gateway/$d"; done
mkdir -p "$dest/app"
echo "rootfs.sh: $arch node with ${packages[*]}" >&2
