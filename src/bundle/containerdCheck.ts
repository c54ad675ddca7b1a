// Whether containerd's CRI plugin reads /etc/containerd/certs.d, decided from
// config.toml the way containerd would read it, in POSIX sh and awk (a node
// has neither Node.js nor a TOML library). Shared by install.sh and the
// DaemonSet, which both need the same answer and the same advice.

/** Where the bundle's hosts.toml files go, and what config_path must include. */
export const CERTS_D = '/etc/containerd/certs.d';

/** The CRI registry table per config `version` (containerd migrates 1 and 2 to 3 itself). */
export const REGISTRY_TABLES: Record<1 | 2 | 3, string> = {
  1: 'plugins.cri.registry',
  2: 'plugins."io.containerd.grpc.v1.cri".registry',
  3: 'plugins."io.containerd.cri.v1.images".registry',
};

// The reader. It prints facts, one a line, about all three versions' tables
// at once, because TOML puts `version` anywhere among the top-level keys:
//   version N LINE
//   table V LINE          the registry table of version V's CRI plugin
//   value V LINE STRING   config_path in it (STRING may be empty)
//   badvalue V LINE WHY   config_path there, but not a one-line string
//   mirrors V LINE        old registry.mirrors entries (refused beside config_path)
// Keys are compared in a canonical form ("seg"."seg"), so 'x', "x" and x,
// spacing around dots and dotted keys under [plugins] all match alike.
// Comments, multi-line arrays and multi-line strings are skipped, so a
// commented-out config_path or one in another plugin (the transfer
// service's) never counts.
const AWK = String.raw`
function canon(s,   out, seg, i, c, q, n) {
  out = ""; seg = ""; q = ""; n = 0
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (q != "") { if (c == q) q = ""; else seg = seg c; continue }
    if (c == "\"" || c == "'") { q = c; continue }
    if (c == " " || c == "\t") continue
    if (c == ".") { out = out (n++ ? "." : "") "\"" seg "\""; seg = ""; continue }
    seg = seg c
  }
  return out (n ? "." : "") "\"" seg "\""
}
# Position of the first c outside quotes and comments, 0 if none.
function find(s, c,   i, ch, q) {
  q = ""
  for (i = 1; i <= length(s); i++) {
    ch = substr(s, i, 1)
    if (q != "") { if (ch == "\\" && q == "\"") i++; else if (ch == q) q = ""; continue }
    if (ch == "\"" || ch == "'") { q = ch; continue }
    if (ch == "#") return 0
    if (ch == c) return i
  }
  return 0
}
# Brackets opened minus closed, outside quotes and comments.
function depth(s,   i, ch, q, d) {
  q = ""; d = 0
  for (i = 1; i <= length(s); i++) {
    ch = substr(s, i, 1)
    if (q != "") { if (ch == "\\" && q == "\"") i++; else if (ch == q) q = ""; continue }
    if (ch == "\"" || ch == "'") { q = ch; continue }
    if (ch == "#") break
    if (ch == "[" || ch == "{") d++
    if (ch == "]" || ch == "}") d--
  }
  return d
}
# A one-line TOML string's value, or "\001" and why it is not one.
function str(v,   q, i, ch, out, rest) {
  q = substr(v, 1, 1)
  if (substr(v, 1, 3) == "\"\"\"" || substr(v, 1, 3) == "'''") return "\001a multi-line string"
  if (q != "\"" && q != "'") return "\001not a string"
  out = ""
  for (i = 2; i <= length(v); i++) {
    ch = substr(v, i, 1)
    if (q == "\"" && ch == "\\") { i++; out = out substr(v, i, 1); continue }
    if (ch == q) {
      rest = substr(v, i + 1); sub(/^[ \t]+/, "", rest)
      if (rest != "" && substr(rest, 1, 1) != "#") return "\001followed by more than a comment"
      return out
    }
    out = out ch
  }
  return "\001an unterminated string"
}
BEGIN {
  t[1] = canon("plugins.cri.registry")
  t[2] = canon("plugins.\"io.containerd.grpc.v1.cri\".registry")
  t[3] = canon("plugins.\"io.containerd.cri.v1.images\".registry")
  table = ""; skip = 0; multi = ""
}
{ line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t\r]+$/, "", line) }
multi != "" { if (index(line, multi)) multi = ""; next }
skip > 0 { skip += depth(line); next }
line == "" || substr(line, 1, 1) == "#" { next }
substr(line, 1, 2) == "[[" { table = "[[]]"; next }
substr(line, 1, 1) == "[" {
  end = find(line, "]")
  table = canon(substr(line, 2, end - 2))
  for (v = 1; v <= 3; v++) {
    if (table == t[v]) print "table", v, NR
    if (index(table, t[v] ".\"mirrors\".") == 1) print "mirrors", v, NR
  }
  next
}
{
  eq = find(line, "=")
  if (!eq) next
  key = canon(substr(line, 1, eq - 1))
  val = substr(line, eq + 1); sub(/^[ \t]+/, "", val)
  full = table == "" ? key : table "." key
  if (substr(val, 1, 3) == "\"\"\"" || substr(val, 1, 3) == "'''") {
    if (!index(substr(val, 4), substr(val, 1, 3))) multi = substr(val, 1, 3)
  } else if (substr(val, 1, 1) == "[" || substr(val, 1, 1) == "{") {
    skip = depth(val)
  }
  if (full == "\"version\"" && match(val, /^[0-9]+/)) print "version", substr(val, 1, RLENGTH), NR
  for (v = 1; v <= 3; v++) {
    if (full == t[v] ".\"config_path\"") {
      s = str(val)
      if (substr(s, 1, 1) == "\001") printf "badvalue %d %d %s\n", v, NR, substr(s, 2)
      else printf "value %d %d %s\n", v, NR, s
    }
    if (index(full, t[v] ".\"mirrors\".") == 1) print "mirrors", v, NR
  }
}
`;

// containerd_check CONF VERSION: prints what to do (nothing when all is
// well) and returns 0 when the CRI plugin reads /etc/containerd/certs.d, 1
// when it does not, 2 when that depends on a containerd version not known
// (VERSION is containerd's, e.g. 1.6.20 or 2.2.0, or empty).
const SH = String.raw`
# The reader, a function around a quoted here-document: the shell expands nothing in it.
containerd_awk() {
cat <<'AWK_END'
${AWK.trim()}
AWK_END
}

# containerd_major_minor: "1.6" from containerd --version, empty when absent.
containerd_version() {
  command -v containerd >/dev/null 2>&1 || return 0
  containerd --version 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if (match($i, /^v?[0-9]+\.[0-9]+/)) { v = substr($i, RSTART, RLENGTH); sub(/^v/, "", v); print v; exit } }'
}

registry_table() {
  case "$1" in 1) echo 'plugins.cri.registry' ;; 2) echo 'plugins."io.containerd.grpc.v1.cri".registry' ;; *) echo 'plugins."io.containerd.cri.v1.images".registry' ;; esac
}

# snippet VERSION [with-version]: the table (and version line) that turns config_path on.
snippet() {
  # $# first: install.sh runs with set -u.
  if [ "$#" -ge 2 ] && [ "$2" = with-version ]; then printf '    version = %s\n\n' "$1"; fi
  printf '    [%s]\n      config_path = "%s"\n' "$(registry_table "$1")" "${CERTS_D}"
}

containerd_check() {
  conf="$1"; cver="$2"
  cmajor=$(echo "$cver" | cut -d. -f1); cminor=$(echo "$cver" | cut -d. -f2)
  restart="then restart containerd (systemctl restart containerd)"
  # containerd 2.2 turned config_path on by default; before, it was off.
  default_on=unknown
  case "$cmajor" in
    "") ;;
    0|1) default_on=no ;;
    2) if [ "$cminor" -ge 2 ] 2>/dev/null; then default_on=yes; else default_on=no; fi ;;
    *) default_on=yes ;;
  esac
  if [ ! -f "$conf" ]; then
    case "$default_on" in
      yes) return 0 ;;
      no)
        v=2; [ "$cmajor" -ge 2 ] && v=3
        echo "containerd: there is no $conf, and containerd $cver reads no certs.d for Kubernetes pulls without one."
        echo "  create it with this, $restart:"
        snippet "$v" with-version
        return 1 ;;
      *)
        echo "containerd: there is no $conf; containerd 2.2 and later read ${CERTS_D} without one, earlier ones do not."
        echo "  for containerd 1.x create it with:"; snippet 2 with-version
        echo "  for containerd 2.0 or 2.1 create it with:"; snippet 3 with-version
        echo "  $restart"
        return 2 ;;
    esac
  fi
  facts=$(awk "$(containerd_awk)" "$conf") || { echo "containerd: cannot read $conf: check config_path by hand"; return 1; }
  version=$(printf '%s\n' "$facts" | awk '$1 == "version" { print $2; exit }')
  [ -n "$version" ] || version=1
  case "$version" in 1|2|3) ;; *) echo "containerd: $conf has version = $version, which this script does not know: make sure config_path includes ${CERTS_D}"; return 2 ;; esac
  if [ "$version" = 3 ] && [ "$default_on" = no ] && [ "$cmajor" -lt 2 ]; then
    echo "containerd: $conf has version = 3, which containerd $cver cannot read (version 3 is for containerd 2.x): use version = 2"
    return 1
  fi
  table=$(registry_table "$version")
  bad=$(printf '%s\n' "$facts" | awk -v v="$version" '$1 == "badvalue" && $2 == v { print; exit }')
  if [ -n "$bad" ]; then
    bline=$(echo "$bad" | cut -d' ' -f3); why=$(echo "$bad" | cut -d' ' -f4-)
    echo "containerd: $conf line $bline sets config_path to $why, which this script cannot read: make it a one-line string that includes ${CERTS_D}"
    return 1
  fi
  value=$(printf '%s\n' "$facts" | awk -v v="$version" '$1 == "value" && $2 == v { print; exit }')
  mirrors=$(printf '%s\n' "$facts" | awk -v v="$version" '$1 == "mirrors" && $2 == v { print $3; exit }')
  advice=""
  [ -z "$mirrors" ] || advice="  first move the [$table.mirrors] entries (line $mirrors) into hosts.toml files: containerd refuses mirrors beside config_path"
  if [ -n "$value" ]; then
    vline=$(echo "$value" | cut -d' ' -f3)
    path=$(printf '%s\n' "$value" | sed 's/^value [0-9]* [0-9]* //')
    if [ -n "$path" ]; then
      old_ifs=$IFS; IFS=:
      for d in $path; do
        case "$d" in ${CERTS_D}|${CERTS_D}/) IFS=$old_ifs; return 0 ;; esac
      done
      IFS=$old_ifs
      echo "containerd: $conf line $vline sets config_path = \"$path\", which does not include ${CERTS_D}, so Kubernetes pulls ignore what was installed there."
      echo "  change that line to this, $restart:"
      echo "      config_path = \"$path:${CERTS_D}\""
      return 1
    fi
    echo "containerd: $conf line $vline has config_path = \"\", which turns certs.d off: Kubernetes pulls ignore ${CERTS_D}."
    echo "  change that line to this, $restart:"
    echo "      config_path = \"${CERTS_D}\""
    [ -z "$advice" ] || echo "$advice"
    return 1
  fi
  # No config_path in the file: containerd's default decides.
  if [ "$version" = 3 ] && [ "$default_on" = yes ]; then return 0; fi
  tline=$(printf '%s\n' "$facts" | awk -v v="$version" '$1 == "table" && $2 == v { print $3; exit }')
  status=1
  case "$default_on" in
    no) echo "containerd: $conf (version = $version) does not set config_path, and containerd $cver then ignores ${CERTS_D} for Kubernetes pulls." ;;
    *) status=2; echo "containerd: $conf (version = $version) does not set config_path: containerd 2.2 and later then read ${CERTS_D}, earlier ones do not." ;;
  esac
  if [ -n "$tline" ]; then
    echo "  add this line under [$table] (line $tline), $restart:"
    echo "      config_path = \"${CERTS_D}\""
  else
    echo "  add this table to it, $restart:"
    snippet "$version"
  fi
  [ -z "$advice" ] || echo "$advice"
  return "$status"
}
`;

/** The sh functions containerd_version and containerd_check (with the awk reader). */
export const containerdCheckSh = SH;
