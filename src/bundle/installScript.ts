// install.sh: POSIX sh, idempotent, --dry-run and --root. It installs only for
// the runtimes present, never edits a runtime's own config file (it prints
// the snippet and whether a restart is needed), and refuses to install a CA
// whose SHA-256 is not the one it was made for. Standalone when piped with
// --ca FILE: everything but the CA and client certificates is embedded; a
// piped script finds those with --bundle DIR. Whatever it installs for k3s
// references only files it installed, and it says what it left out.
import { containerdCheckSh } from './containerdCheck.js';

export interface InstallScriptInput {
  addresses: string[];
  caSha256: string;
  /** hosts.toml per address (made by the TOML library). */
  hostsToml: Record<string, string>;
  /** registries.yaml without credentials (made by the YAML library). */
  registriesYaml: string;
  k3sCaDir: string;
  /** The node a client certificate was made for, when the bundle has one. */
  clientNode?: string;
}

// Quoted here-documents: the shell expands nothing inside.
const heredoc = (content: string, tag: string) => `<<'${tag}'\n${content.endsWith('\n') ? content : `${content}\n`}${tag}`;

/** One shell word, taken literally: unquoted, a case pattern like [::1]:5443 is a bracket expression matching "1:5443". */
export const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function installScript(input: InstallScriptInput): string {
  const hostsCases = input.addresses.map((a) => `    ${shQuote(a)}) cat ${heredoc(input.hostsToml[a]!, 'HOSTS_TOML_END')}\n    ;;`).join('\n');
  return `#!/bin/sh
# Trust installer for the registry at: ${input.addresses.join(' ')}
# Made by registry-gateway. Run as root on every node that pulls.
#   sh install.sh [--dry-run] [--root DIR] [--runtimes docker,containerd,containers,k3s] [--ca FILE] [--bundle DIR]
set -eu
# No pathname expansion: the addresses are split on spaces below, and [::1]:5443 is a glob.
set -f

ADDRESSES="${input.addresses.join(' ')}"
CA_SHA256="${input.caSha256}"
K3S_CA_DIR="${input.k3sCaDir}"
CLIENT_NODE="${input.clientNode ?? ''}"

usage() {
  sed -n '2,5p' "$0" 2>/dev/null || true
  echo "  --dry-run     say what would change, change nothing"
  echo "  --root DIR    install under DIR instead of / (images, tests)"
  echo "  --runtimes L  only these, comma-separated (default: the ones found here)"
  echo "  --ca FILE     the CA certificate (default: ca.crt from this bundle)"
  echo "  --bundle DIR  the unpacked bundle, when this script is piped (client certificates, credentials)"
}

root=""
dry=0
runtimes=""
ca=""
bundle_opt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a directory" >&2; exit 2; }; root="\${2%/}"; shift ;;
    --runtimes) [ $# -ge 2 ] || { echo "install.sh: --runtimes needs a list, e.g. docker,containerd" >&2; exit 2; }; runtimes="$2"; shift ;;
    --ca) [ $# -ge 2 ] || { echo "install.sh: --ca needs a file" >&2; exit 2; }; ca="$2"; shift ;;
    --bundle) [ $# -ge 2 ] || { echo "install.sh: --bundle needs the unpacked bundle's directory" >&2; exit 2; }
      [ -f "$2/install.sh" ] || { echo "install.sh: --bundle $2 has no install.sh: give the directory gateway bundle wrote (or the unpacked registry-trust/)" >&2; exit 2; }
      bundle_opt=$(cd "$2" && pwd); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The bundle this script came from: beside it, or --bundle when piped (then $0 is sh).
bundle="$bundle_opt"
if [ -z "$bundle" ]; then
  case "$0" in
    */install.sh|install.sh) bundle=$(cd "$(dirname "$0")" && pwd) ;;
  esac
fi
first=\${ADDRESSES%% *}
if [ -z "$ca" ]; then
  [ -n "$bundle" ] || { echo "install.sh: piped, so there is no bundle to take ca.crt from: pass --ca FILE or --bundle DIR" >&2; exit 2; }
  ca="$bundle/docker/certs.d/$first/ca.crt"
fi
[ -f "$ca" ] || { echo "install.sh: no CA certificate at $ca (pass --ca FILE)" >&2; exit 2; }

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else openssl dgst -sha256 -r "$1" | cut -d' ' -f1; fi
}
actual=$(sha256 "$ca")
if [ "$actual" != "$CA_SHA256" ]; then
  echo "install.sh: $ca has SHA-256 $actual, expected $CA_SHA256: refusing to install anything" >&2
  exit 1
fi

has() { command -v "$1" >/dev/null 2>&1; }
if [ -z "$runtimes" ]; then
  { has dockerd || has docker || [ -d "$root/etc/docker" ]; } && runtimes="$runtimes,docker"
  { has containerd || [ -d "$root/etc/containerd" ]; } && runtimes="$runtimes,containerd"
  { has podman || has skopeo || has crio || has buildah || [ -d "$root/etc/containers" ]; } && runtimes="$runtimes,containers"
  { has k3s || [ -d "$root/etc/rancher/k3s" ]; } && runtimes="$runtimes,k3s"
  runtimes=\${runtimes#,}
  [ -n "$runtimes" ] || { echo "install.sh: found none of docker, containerd, podman/CRI-O, k3s; choose with --runtimes" >&2; exit 2; }
fi
wants() { case ",$runtimes," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for r in $(echo "$runtimes" | tr ',' ' '); do
  case "$r" in docker|containerd|containers|k3s) ;; *) echo "install.sh: unknown runtime '$r' (docker, containerd, containers, k3s)" >&2; exit 2 ;; esac
done

${containerdCheckSh.trim()}

changed=0
notes=""
note() { notes="$notes
$1"; }

# Every path put() installed or would install (--dry-run), one a line: what
# registries.yaml may reference.
installed=""

# put FILE_OR_- DEST MODE: install atomically (temporary file, then rename), only when different.
put() {
  src="$1"; dest="$root$2"; mode="$3"
  installed="$installed
$2"
  tmp_in=""
  if [ "$src" = "-" ]; then tmp_in=$(mktemp); cat > "$tmp_in"; src="$tmp_in"; fi
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    echo "unchanged  $dest"
  elif [ "$dry" -eq 1 ]; then
    echo "would write $dest"; changed=1
  else
    mkdir -p "$(dirname "$dest")"
    cp "$src" "$dest.tmp.$$"
    chmod "$mode" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    echo "wrote      $dest"; changed=1
  fi
  [ -z "$tmp_in" ] || rm -f "$tmp_in"
}

missing_client=""
client_files() { # DIR ADDRESS DEST: client certificate pair from the bundle, when it has one
  if [ -n "$bundle" ] && [ -f "$bundle/$1/$2/client.cert" ] && [ -f "$bundle/$1/$2/client.key" ]; then
    put "$bundle/$1/$2/client.cert" "$3/client.cert" 644
    put "$bundle/$1/$2/client.key" "$3/client.key" 600
  elif [ -n "$CLIENT_NODE" ]; then
    missing_client="$missing_client $3/client.cert $3/client.key"
  fi
}

hosts_toml() { # the bundle's own when its client certificates are there too (it names them), else the embedded one
  d="$bundle/containerd/certs.d/$1"
  if [ -n "$bundle" ] && [ -f "$d/hosts.toml" ] && { [ -f "$d/client.cert" ] || ! grep -q 'client' "$d/hosts.toml"; }; then cat "$d/hosts.toml"; return; fi
  case "$1" in
${hostsCases}
  esac
}

for addr in $ADDRESSES; do
  if wants docker; then
    put "$ca" "/etc/docker/certs.d/$addr/ca.crt" 644
    client_files docker/certs.d "$addr" "/etc/docker/certs.d/$addr"
  fi
  if wants containerd; then
    put "$ca" "/etc/containerd/certs.d/$addr/ca.crt" 644
    hosts_toml "$addr" | put - "/etc/containerd/certs.d/$addr/hosts.toml" 644
    client_files containerd/certs.d "$addr" "/etc/containerd/certs.d/$addr"
  fi
  if wants containers; then
    put "$ca" "/etc/containers/certs.d/$addr/ca.crt" 644
    client_files containers/certs.d "$addr" "/etc/containers/certs.d/$addr"
  fi
  if wants k3s; then
    put "$ca" "$K3S_CA_DIR/$addr/ca.crt" 644
    client_files k3s/certs.d "$addr" "$K3S_CA_DIR/$addr"
  fi
done

if wants containerd; then
  # config.toml is read, never changed: the advice says what to change.
  advice=$(containerd_check "$root/etc/containerd/config.toml" "$(containerd_version)") || true
  [ -z "$advice" ] || note "$advice"
fi

# referenced FILE: the paths a registries.yaml names that were not installed.
referenced_missing() {
  sed -n -e 's/^ *ca_file: *//p' -e 's/^ *cert_file: *//p' -e 's/^ *key_file: *//p' "$1" | tr -d "\\"'" | while read -r p; do
    printf '%s\\n' "$installed" | grep -qxF "$p" || [ -f "$root$p" ] || echo "$p"
  done
}

if wants k3s; then
  registries=$(mktemp)
  embedded() { cat > "$registries" ${heredoc(input.registriesYaml, 'REGISTRIES_YAML_END')}
  }
  if [ -n "$bundle" ] && [ -f "$bundle/k3s/registries.yaml" ]; then cp "$bundle/k3s/registries.yaml" "$registries"; else embedded; fi
  gone=$(referenced_missing "$registries")
  if [ -n "$gone" ]; then
    # Reference only what is installed: k3s will not start with a missing cert_file.
    embedded
    note "k3s: left out of registries.yaml, because these files were not installed: $(echo $gone)"
    note "  it trusts the CA only (no client certificate, no credentials); to install all, run install.sh from the unpacked bundle or pass --bundle DIR"
  fi
  [ -z "$missing_client" ] || note "client certificate for node $CLIENT_NODE not installed (a piped install.sh cannot see the bundle): pass --bundle DIR. Missing:$missing_client"
  missing_client=
  target="$root/etc/rancher/k3s/registries.yaml"
  if [ -f "$target" ] && ! cmp -s "$registries" "$target"; then
    note "k3s: $target exists and was not changed; merge these entries into it, then restart k3s (or k3s-agent):"
    note "$(sed 's/^/    /' "$registries")"
  else
    before=$changed
    put "$registries" /etc/rancher/k3s/registries.yaml 600
    [ "$changed" -eq "$before" ] || note "k3s: restart k3s (or k3s-agent) to read registries.yaml."
  fi
  rm -f "$registries"
fi

[ -z "$missing_client" ] || note "client certificate for node $CLIENT_NODE not installed (a piped install.sh cannot see the bundle): pass --bundle DIR. Missing:$missing_client"
[ -z "$notes" ] || printf '%s\\n' "$notes"
if [ "$changed" -eq 0 ]; then echo "nothing to change for: $runtimes"; fi
`;
}
