#!/usr/bin/env bash
# npm run image: the gateway's container image for linux/amd64 and linux/arm64,
# built without a container engine and without pulling a base image, as an OCI
# image layout in dist/image/oci whose tag names an OCI image index (one
# manifest per platform: an engine or a node pulls the one for its own),
# tagged with package.json's version and the commit (0.1.0-1a2b3c4, -dirty when the inputs have uncommitted changes: a rebuild
# of a new commit is a new tag, so nodes with IfNotPresent do pull it), with
# beside it image.json (name, tag, the index's digest: `gateway deploy kubernetes`
# renders the image by digest from it, so nodes of either architecture pick
# theirs; and each platform's manifest digest) and sbom.cdx.json (CycloneDX,
# npm sbom: the production dependencies in the image):
#   layer 1  Node.js 24 (scripts/node24.sh x64|arm64) + the glibc and libstdc++
#            files it loads, from Debian's packages of that architecture at the
#            versions installed here (scripts/image/rootfs.sh): one per platform
#   layer 2  /app/node_modules: production dependencies only, from the lockfile
#   layer 3  /app/dist (tsc, and the web UI in dist/web by vite), package.json, package-lock.json
# Layers 2 and 3 are the same blobs in both images: no production dependency
# has a native addon (checked below); the only machine code in them is
# bare-buffer's prebuilds for every platform (for the Bare runtime; Node never loads it).
# The Containerfile builds the same image with an engine that can pull node:24.
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last git
# commit's time), owners are 0:0, entries are sorted, modes normalised, and the
# history and config carry only that time, so two builds of one tree give one digest.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: npm run image [-- --out DIR] [--platform amd64|arm64|all]
  --out DIR        write DIR/oci (default dist/image); the old one is replaced only
                   once the new one is complete
  --platform P     the linux platforms in the image index: amd64, arm64 or all
                   (default all; one is quicker for a local build)
environment:
  SOURCE_DATE_EPOCH  time of every file and of the image (default: last git commit)
  IMAGE_REVISION     org.opencontainers.image.revision (default: git HEAD, +"-dirty")
  IMAGE_SOURCE       org.opencontainers.image.source (default: package.json repository,
                     else git remote origin)
EOF
}

die() { echo "image.sh: $*" >&2; exit 1; }
note() { echo "image.sh: [${SECONDS}s] $*" >&2; }

out=dist/image
platform=all
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --platform) [ $# -ge 2 ] || die "--platform needs amd64, arm64 or all"; platform=$2; shift 2 ;;
    --platform=*) platform=${1#--platform=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

case $platform in
  all) platforms=(amd64 arm64) ;;
  amd64 | arm64) platforms=("$platform") ;;
  linux/amd64 | linux/arm64) platforms=("${platform#linux/}") ;;
  *) usage >&2; die "unknown platform '$platform': give amd64, arm64 or all" ;;
esac
# Debian's architecture names (the OCI ones) and the npm registry's node-linux-* names.
declare -A node_arch=([amd64]=x64 [arm64]=arm64)

need() { command -v "$1" >/dev/null 2>&1 || die "needs '$1' from the Debian package $2: install it with apt-get install -y $2"; }
need umoci umoci
need tar tar
need ldd libc-bin
# Another architecture's base comes from its .debs (scripts/image/debs.sh, rootfs.sh --arch).
for p in "${platforms[@]}"; do
  if [ "$p" != "$(dpkg --print-architecture)" ]; then
    need readelf binutils
    need dpkg-deb dpkg
    need apt-get apt
  fi
done
need dpkg-query dpkg
need sha256sum coreutils
need openssl openssl
need node nodejs
need npm npm
tar --sort=name --version >/dev/null 2>&1 || die "tar is not GNU tar 1.28 or later (no --sort): apt-get install -y tar"

json() { node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(eval(process.argv[2]) ?? "")' "$@"; }
version=$(json package.json v.version)
[ -n "$version" ] || die "package.json has no version"
name=registry-gateway

# Everything that goes into the image, for the -dirty mark.
inputs=(src package.json package-lock.json tsconfig.json vite.config.ts scripts/node24.sh scripts/image.sh scripts/image)
git_ok=false
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && git_ok=true
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  if $git_ok && SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) && [ -n "$SOURCE_DATE_EPOCH" ]; then :; else
    note "warning: not a git checkout and SOURCE_DATE_EPOCH is unset: using 0 (1970-01-01) as the image's time"
    SOURCE_DATE_EPOCH=0
  fi
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970, not '$SOURCE_DATE_EPOCH'"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
if [ -z "${IMAGE_REVISION:-}" ]; then
  IMAGE_REVISION=unknown
  if $git_ok; then
    IMAGE_REVISION=$(git rev-parse HEAD)
    [ -z "$(git status --porcelain -- "${inputs[@]}")" ] || IMAGE_REVISION="$IMAGE_REVISION-dirty"
  fi
fi
# The tag: the version and the commit it was built from (IMAGE_REVISION's first 12 hex digits).
tag=$version
if [[ $IMAGE_REVISION =~ ^([0-9a-f]{12})[0-9a-f]*(-dirty)?$ ]]; then tag="$version-${BASH_REMATCH[1]}${BASH_REMATCH[2]}"; fi
if [ -z "${IMAGE_SOURCE:-}" ]; then
  IMAGE_SOURCE=$(json package.json 'typeof v.repository === "string" ? v.repository : v.repository?.url')
  IMAGE_SOURCE=${IMAGE_SOURCE#git+}
  if [ -z "$IMAGE_SOURCE" ] && $git_ok; then IMAGE_SOURCE=$(git config --get remote.origin.url || true); fi
  # git@host:owner/repo.git as the https URL a browser opens.
  if [[ $IMAGE_SOURCE =~ ^git@([^:]+):(.+)$ ]]; then IMAGE_SOURCE="https://${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"; fi
  # npm's shorthands: "owner/repo" and "github:owner/repo" are GitHub's, "gitlab:owner/repo" GitLab's.
  if [[ $IMAGE_SOURCE =~ ^(github:|gitlab:)?([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$ ]]; then
    host=github.com
    [ "${BASH_REMATCH[1]}" = gitlab: ] && host=gitlab.com
    IMAGE_SOURCE="https://$host/${BASH_REMATCH[2]}"
  fi
  IMAGE_SOURCE=${IMAGE_SOURCE%.git}
  # A local path (a clone of a clone) means nothing to whoever reads the label.
  if [ -n "$IMAGE_SOURCE" ] && ! [[ $IMAGE_SOURCE =~ ^https?:// ]]; then
    note "warning: the source '$IMAGE_SOURCE' is not a URL: set \"repository\" in package.json (or IMAGE_SOURCE)"
    IMAGE_SOURCE=
  fi
  # No label rather than one that is not a URL: scanners and registries link it.
  if [ -z "$IMAGE_SOURCE" ]; then
    note "warning: no source URL (package.json \"repository\", git remote origin or IMAGE_SOURCE): the image has no org.opencontainers.image.source label"
  fi
fi
licenses=$(json package.json v.license)

declare -A node24
for p in "${platforms[@]}"; do
  node24[$p]=$(bash scripts/node24.sh "${node_arch[$p]}") || die "scripts/node24.sh ${node_arch[$p]} could not provide Node.js 24 for $p"
done
# Read from the npm package, not by running it: the arm64 binary does not run here.
node_version=v$(json "$(dirname "${node24[${platforms[0]}]}")/../package.json" v.version)

mkdir -p "$out"
out=$(realpath "$out")
# dist/ is what npm packs (package.json "files"): keep the image out of the package.
case $out/ in "$PWD"/*) printf '%s\n' '# written by scripts/image.sh: the image is not part of the npm package' '*' > "$out/.npmignore" ;; esac
# Built beside the result (same filesystem), moved into place when complete.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS

for p in "${platforms[@]}"; do
  note "layer 1 ($p): node $node_version and its libraries"
  bash scripts/image/rootfs.sh --arch "$p" "${node24[$p]}" "$tmp/base-$p" || die "scripts/image/rootfs.sh could not assemble the $p base (it said why above)"
done

note "layer 2: production node_modules from package-lock.json"
mkdir -p "$tmp/modules/app"
cp package.json package-lock.json "$tmp/modules/app/"
# --ignore-scripts: no lifecycle script runs (prepare would build, and no
# production dependency needs an install script); npm's cache makes it offline.
(cd "$tmp/modules/app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2) ||
  die "npm ci --omit=dev failed in $tmp/modules/app (offline and not in npm's cache? run npm ci once with network)"
# The SBOM of exactly this tree: npm sbom over the installed production modules (with the
# devDependencies out of package.json, which it would report missing; from the repository's root,
# npm's --omit dev leaves some production packages out).
node -e '
  const fs = require("fs"); const file = process.argv[1]; const p = JSON.parse(fs.readFileSync(file, "utf8"));
  delete p.devDependencies; fs.writeFileSync(file, JSON.stringify(p));
' "$tmp/modules/app/package.json"
(cd "$tmp/modules/app" && npm sbom --sbom-format cyclonedx --loglevel=error > "$tmp/sbom.cdx.json") ||
  die "npm sbom failed in $tmp/modules/app (npm 10 or later has it)"
rm -rf "$tmp/modules/app/node_modules/.bin" "$tmp/modules/app/package.json" "$tmp/modules/app/package-lock.json"
# One node_modules layer for every platform: so no production dependency may carry
# machine code for one platform only (a .node addon built here, a binding.gyp, a
# package for one cpu or os). Prebuilt binaries are accepted in a package's
# prebuilds/PLATFORM/ directories when it has them for linux-x64 and linux-arm64 alike
# (bare-buffer, under tar-stream's bare-fs, ships them for the Bare runtime: Node never loads them).
node -e '
  const fs = require("fs"); const path = require("path"); const root = process.argv[1];
  const bad = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      if (!e.isFile()) continue;
      const rel = path.relative(root, p);
      if (e.name.endsWith(".node") || e.name === "binding.gyp") { bad.push(rel); continue; }
      const fd = fs.openSync(p, "r"); const magic = Buffer.alloc(4); fs.readSync(fd, magic, 0, 4, 0); fs.closeSync(fd);
      if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) continue;
      const m = /^(.*\/prebuilds)\/[^/]+\//.exec(p);
      const both = m && ["linux-x64", "linux-arm64"].every((d) => fs.existsSync(path.join(m[1], d)));
      if (!both) bad.push(rel);
    }
  };
  walk(root);
  if (bad.length) {
    console.error(`image.sh: production dependencies carry machine code for one platform (the node_modules layer is shared by every platform): ${bad.join(", ")}`);
    process.exit(1);
  }
  const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
  const bound = Object.entries(lock.packages).filter(([p, m]) => p && !m.dev && (m.cpu || m.os)).map(([p]) => p);
  if (bound.length) { console.error(`image.sh: production dependencies for one cpu or os only (not shareable between platforms): ${bound.join(", ")}`); process.exit(1); }
' "$tmp/modules/app/node_modules" || die "the production node_modules cannot be shared by the platforms ${platforms[*]} (see above)"
# Not one devDependency may land in the image.
node -e '
  const { existsSync } = require("fs"); const { join } = require("path");
  const lock = JSON.parse(require("fs").readFileSync("package-lock.json", "utf8"));
  const dev = Object.entries(lock.packages).filter(([p, m]) => p && m.dev).map(([p]) => p).filter((p) => existsSync(join(process.argv[1], p)));
  if (dev.length) { console.error(`image.sh: devDependencies in the image: ${dev.join(", ")}`); process.exit(1); }
' "$tmp/modules/app"

note "layer 3: the gateway (tsc)"
mkdir -p "$tmp/app/app"
# Its own outDir, not dist/: nothing stale, no race with other builds, and no
# source maps (they point at ../src, which the image does not hold).
[ -x node_modules/.bin/tsc ] || die "node_modules/.bin/tsc is missing: run npm ci first (the build needs the dev dependencies; the image gets none)"
node_modules/.bin/tsc -p tsconfig.json --outDir "$tmp/app/app/dist" --sourceMap false || die "tsc failed: fix the errors above"
chmod 0755 "$tmp/app/app/dist/cli/main.js"
# The web UI (/ui): vite.config.ts writes no source maps; content-hashed names, so the same tree gives the same files.
[ -x node_modules/.bin/vite ] || die "node_modules/.bin/vite is missing: run npm ci first (the build needs the dev dependencies; the image gets none)"
# --bypass-lock: vite allows one build per project at a time, for the sake of
# its outDir; this one is private, and builds run side by side (two at once
# prove the digest is reproducible).
node_modules/.bin/vite build --logLevel warn --bypass-lock --outDir "$tmp/app/app/dist/web" || die "vite build of src/web failed: fix the errors above"
cp package.json package-lock.json "$tmp/app/app/"

# One layer tar per directory: sorted, owned by 0:0, one time, no atime/ctime.
layer() {
  local dir=$tmp/$1 entries
  mapfile -t entries < <(cd "$dir" && LC_ALL=C ls -A)
  tar --create --file "$tmp/$1.tar" --directory "$dir" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode=u+w,go-w,a+rX --hard-dereference -- "${entries[@]}"
}
note "layer tars, then umoci: compress, config, manifests"
for p in "${platforms[@]}"; do layer "base-$p"; done
layer modules
layer app

layout=$tmp/oci
umoci init --layout "$layout"
history=(--history.created "$created" --history.author "$name")
labels=(
  "org.opencontainers.image.title=$name"
  "org.opencontainers.image.description=TLS and auth gateway for a container image registry"
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$IMAGE_REVISION"
  "org.opencontainers.image.licenses=$licenses"
  "org.opencontainers.image.created=$created"
)
[ -z "$IMAGE_SOURCE" ] || labels+=("org.opencontainers.image.source=$IMAGE_SOURCE")
# One manifest per platform (umoci), each under a working tag TAG-PLATFORM.
for p in "${platforms[@]}"; do
  image="$layout:$tag-$p"
  umoci new --image "$image"
  umoci raw add-layer --image "$image" "${history[@]}" --history.created_by "node $node_version + $(cd "$tmp/base-$p/var/lib/dpkg/status.d" && echo *) ($p) from Debian" "$tmp/base-$p.tar"
  umoci raw add-layer --image "$image" "${history[@]}" --history.created_by "npm ci --omit=dev --ignore-scripts" "$tmp/modules.tar"
  umoci raw add-layer --image "$image" "${history[@]}" --history.created_by "tsc -p tsconfig.json && vite build" "$tmp/app.tar"
  config=(--no-history --created "$created" --author "$name" --os linux --architecture "$p"
    --config.user 65532:65532 --config.workingdir /app
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env NODE_ENV=production
    --config.env "GATEWAY_REVISION=$IMAGE_REVISION"
    --config.entrypoint /usr/local/bin/node --config.entrypoint /app/dist/cli/main.js
    --config.cmd serve --config.cmd=--config --config.cmd /etc/gateway/config/gateway.yaml
    --config.exposedports 5443/tcp --config.exposedports 9464/tcp --config.stopsignal SIGTERM)
  for l in "${labels[@]}"; do config+=(--config.label "$l" --manifest.annotation "$l"); done
  umoci config --image "$image" "${config[@]}"
done
umoci gc --layout "$layout"
# The image index (umoci writes none): one descriptor per platform manifest, with its
# platform, as a blob; index.json then names only that index, under the tag, with the
# name containerd (ctr import, kind load, k3d import) gives the image. Key order and
# contents are fixed, so one tree gives one index digest.
node -e '
  const fs = require("fs"); const path = require("path"); const crypto = require("crypto");
  const [layout, tag, full, labels, ...platforms] = process.argv.slice(1);
  const file = path.join(layout, "index.json");
  const top = JSON.parse(fs.readFileSync(file, "utf8"));
  const manifests = platforms.map((p) => {
    const d = top.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === `${tag}-${p}`);
    if (!d) throw new Error(`umoci wrote no manifest for ${tag}-${p}`);
    return { mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { architecture: p, os: "linux" } };
  });
  const annotations = Object.fromEntries(labels.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests, annotations };
  const bytes = Buffer.from(JSON.stringify(index));
  const hex = crypto.createHash("sha256").update(bytes).digest("hex");
  fs.writeFileSync(path.join(layout, "blobs", "sha256", hex), bytes);
  top.manifests = [{ mediaType: index.mediaType, digest: `sha256:${hex}`, size: bytes.length,
    annotations: { "io.containerd.image.name": full, "org.opencontainers.image.ref.name": tag } }];
  fs.writeFileSync(file, JSON.stringify(top));
' "$layout" "$tag" "docker.io/library/$name:$tag" "$(printf '%s\n' "${labels[@]}")" "${platforms[@]}"
# umoci writes 0600: readable by all, for rootless engines and other users.
chmod -R u+rwX,go+rX,go-w "$layout"

note "done"
# The result, read back from the layout: the index's digest, then per platform
# its manifest's digest, compressed and unpacked sizes and layer count.
summary=$(node -e '
  const fs = require("fs"); const path = require("path"); const [layout, tag, tmp] = process.argv.slice(1);
  const blob = (d) => JSON.parse(fs.readFileSync(path.join(layout, "blobs", ...d.digest.split(":")), "utf8"));
  const top = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8"));
  const desc = top.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  console.log(desc.digest);
  for (const m of blob(desc).manifests) {
    const manifest = blob(m);
    const compressed = manifest.layers.reduce((s, l) => s + l.size, manifest.config.size + m.size);
    const a = m.platform.architecture;
    const unpacked = [`base-${a}`, "modules", "app"].reduce((s, t) => s + fs.statSync(path.join(tmp, `${t}.tar`)).size, 0);
    console.log(`linux/${a}`, m.digest, compressed, unpacked, manifest.layers.length);
  }
' "$layout" "$tag" "$tmp")
digest=$(head -1 <<<"$summary")

# The SBOM names the image (not npm's build directory) and, like the image, carries no build time:
# its time is the image's, its serial number the image digest's.
node -e '
  const fs = require("fs"); const [sbom, info, name, version, tag, digest, revision, created, summary] = process.argv.slice(1);
  const platforms = Object.fromEntries(summary.split("\n").slice(1).map((l) => l.split(" ").slice(0, 2)));
  const bom = JSON.parse(fs.readFileSync(sbom, "utf8"));
  const hex = digest.slice("sha256:".length);
  bom.serialNumber = `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  bom.metadata = { ...bom.metadata, timestamp: created, component: { ...bom.metadata.component, name, version } };
  fs.writeFileSync(sbom, JSON.stringify(bom, null, 2) + "\n");
  fs.writeFileSync(info, JSON.stringify({ name, tag, digest, revision, platforms }, null, 2) + "\n");
' "$tmp/sbom.cdx.json" "$tmp/image.json" "$name" "$version" "$tag" "$digest" "$IMAGE_REVISION" "$created" "$summary"

# Into place: the old layout stays readable until the new one is complete.
if [ -e "$out/oci" ]; then mv "$out/oci" "$tmp/old"; fi
mv "$layout" "$out/oci"
mv "$tmp/sbom.cdx.json" "$tmp/image.json" "$out/"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
rel=$(realpath --relative-to="$PWD" "$out/oci")
case $rel in ../*) rel=$out/oci ;; esac
plist=$(printf 'linux/%s, ' "${platforms[@]}")
echo "image   $name:$tag (an OCI image index: ${plist%, })"
cat <<EOF
layout  $rel (skopeo/podman: oci:$rel:$tag; skopeo copy --all for every platform)
digest  $digest
EOF
while read -r plat pdigest compressed unpacked layers; do
  printf '%-7s %s %s, %s compressed, %s unpacked, %s layers\n' platform "$plat" "$pdigest" "$(mib "$compressed")" "$(mib "$unpacked")" "$layers"
done < <(tail -n +2 <<<"$summary")
cat <<EOF
sbom    $(dirname "$rel")/sbom.cdx.json (CycloneDX)
built   in $((SECONDS - started)) s, revision $IMAGE_REVISION, time $created
EOF
