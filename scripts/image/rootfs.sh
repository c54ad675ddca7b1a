#!/usr/bin/env bash
# The base of the gateway's image, assembled in DEST from what is installed:
# a Node.js binary, the shared libraries it loads (found with ldd, taken from
# the installed Debian packages and checked against dpkg's md5sums), the
# gateway user (uid 65532) and the mount points of the config, certificates
# and users. No shell, no package manager: the image runs node and nothing else.
#
# Used by scripts/image.sh (on this machine) and by the Containerfile's base
# stage (inside node:24-bookworm-slim), so both images hold the same files.
#
# usage: rootfs.sh NODE_BINARY DEST
set -euo pipefail

die() { echo "rootfs.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: rootfs.sh NODE_BINARY DEST"
node=$1 dest=$2
[ -x "$node" ] || die "$node is not an executable Node.js binary"
for cmd in ldd:libc-bin dpkg-query:dpkg md5sum:coreutils awk:mawk; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || die "needs '${cmd%%:*}' from the Debian package ${cmd#*:}: apt-get install -y ${cmd#*:}"
done
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
echo "rootfs.sh: node $("$node" --version) with ${packages[*]}" >&2
