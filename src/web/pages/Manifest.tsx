// One tag or digest: what it is (image or index), what it holds (each
// platform with its size, layers and config), what refers to it (signatures,
// SBOMs), how to pull it, and — where the rules and the registry allow —
// delete it. An index shows its platforms first; the pull commands are one
// client at a time (a picker, remembered), by tag and by digest.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { formatDate, formatSize, isAttestationEntry, mediaTypeLabel, platformLabel, plural, shortDigest } from '../lib/format.js';
import { CLIENTS, isDigest, pullCommands, type Client } from '../lib/pull.js';
import { byVersion } from '../lib/sort.js';
import { usePullClient } from '../pullClient.js';
import { href } from '../lib/routes.js';
import type { ManifestDetail, PlatformManifest, Referrer } from '../lib/types.js';
import { navigate } from '../router.js';
import { useRegistryHost } from '../registry.js';
import { useSession } from '../session.js';
import { useLoad, useTitle } from '../hooks.js';
import { Command, CopyButton } from '../components/CopyButton.js';
import { Dialog } from '../components/Dialog.js';
import { ErrorMessage, Loading } from '../components/Messages.js';
import { ImageConfigView } from '../components/ImageConfig.js';
import { Layers } from '../components/Layers.js';

const CLIENT_LABELS: Record<Client, string> = { docker: 'docker', podman: 'podman', ctr: 'ctr (containerd)', skopeo: 'skopeo' };

export function ManifestPage({ name, reference }: { name: string; reference: string }) {
  const title = isDigest(reference) ? `${name}@${shortDigest(reference)}` : `${name}:${reference}`;
  useTitle(title);
  const { data, error, loading } = useLoad((signal) => api.manifest(name, reference, signal), [name, reference]);
  return (
    <section class="page">
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <ol>
          <li><a href={href({ page: 'repositories', q: '' })}>Repositories</a></li>
          <li><a href={href({ page: 'tags', name })}>{name}</a></li>
          <li><span aria-current="page">{isDigest(reference) ? shortDigest(reference) : reference}</span></li>
        </ol>
      </nav>
      <h1 tabIndex={-1} class="break">{title}</h1>
      {loading && <Loading what="the manifest" />}
      {error && <ErrorMessage error={error} />}
      {data && <Detail manifest={data} />}
    </section>
  );
}

function Detail({ manifest }: { manifest: ManifestDetail }) {
  const { session } = useSession();
  const registry = useRegistryHost();
  const tags = byVersion(manifest.tags ?? []);
  const tag = isDigest(manifest.ref) ? (tags[0] ?? null) : manifest.ref;
  const [client, setClient] = usePullClient();
  const commands = pullCommands(registry, manifest.name, tag, manifest.digest, session?.user ?? null).filter((c) => c.client === client);
  const platforms = (manifest.platforms ?? []).filter((p) => !isAttestationEntry(p));
  const attestations = (manifest.platforms ?? []).length - platforms.length;
  const pull = (
    <section aria-labelledby="pull-heading" class="pull">
      <h2 id="pull-heading">Pull</h2>
      <div class="field client-picker">
        <label for="pull-client">Client</label>
        <select id="pull-client" value={client} onChange={(e) => setClient(e.currentTarget.value as Client)}>
          {CLIENTS.map((c) => <option key={c} value={c}>{CLIENT_LABELS[c]}</option>)}
        </select>
      </div>
      {tag === null && <p class="muted">No tag points at this digest: pull it by digest.</p>}
      <div class="commands" data-testid="pull-commands">
        {commands.map((c) => (
          <div key={c.by} class="pull-by">
            <h3 class="small-heading">{c.by === 'tag' ? <>By tag <code>{tag}</code></> : 'By digest (this exact content)'}</h3>
            <Command label={c.label} command={c.command} testId={`copy-${c.client}-${c.by}`} />
          </div>
        ))}
      </div>
      {session?.user && client === 'ctr' && <p class="muted small">ctr asks for {session.user}'s password.</p>}
      {session?.user && client !== 'ctr' && (
        <p class="muted small">{CLIENT_LABELS[client]} uses its own login ({client} login {registry}).</p>
      )}
    </section>
  );
  return (
    <>
      <dl class="facts summary" data-testid="manifest-summary">
        <dt>Digest</dt>
        <dd>
          <span class="digest">
            <code class="wrap" data-testid="manifest-digest">{manifest.digest}</code>
            <CopyButton label="Copy digest" text={manifest.digest} />
          </span>
        </dd>
        <dt>Kind</dt>
        <dd>{manifest.kind === 'index' ? `Index of ${plural(platforms.length, 'platform')}` : 'Image'} · {mediaTypeLabel(manifest.mediaType)}</dd>
        <dt>Size</dt>
        <dd data-testid="manifest-size">{formatSize(manifest.size)}</dd>
        {manifest.kind === 'image' && (
          <>
            <dt>Platform</dt>
            <dd>
              {manifest.platform
                ? platformLabel(manifest.platform)
                : manifest.config?.os && manifest.config.architecture
                  ? platformLabel({ os: manifest.config.os, architecture: manifest.config.architecture })
                  : <span class="muted">not named</span>}
            </dd>
            <dt>Created</dt>
            <dd>{formatDate(manifest.config?.created)}</dd>
          </>
        )}
        <dt>Tags on this digest</dt>
        <dd>
          {tags.length === 0 ? (
            <span class="muted">{manifest.tags ? 'none' : 'not known'}</span>
          ) : (
            <ul class="chips">
              {tags.map((t) => (
                <li key={t} class="chip"><a href={href({ page: 'manifest', name: manifest.name, ref: t })}>{t}</a></li>
              ))}
            </ul>
          )}
        </dd>
      </dl>

      {manifest.kind === 'image' && pull}

      {manifest.kind === 'index' ? (
        <section aria-labelledby="platforms-heading">
          <h2 id="platforms-heading">Platforms</h2>
          {attestations > 0 && <p class="muted small">And {plural(attestations, 'attestation manifest')} (provenance, SBOM) not shown as platforms.</p>}
          {manifest.entries !== undefined && manifest.entries > (manifest.platforms ?? []).length && (
            <p class="muted small">
              The index has {plural(manifest.entries, 'entry', 'entries')}; the first {(manifest.platforms ?? []).length} are listed.
            </p>
          )}
          {platforms.map((p) => (p.loaded === false
            ? <ListedPlatform key={p.digest} name={manifest.name} reference={manifest.digest} entry={p} />
            : <PlatformCard key={p.digest} name={manifest.name} p={p} />))}
        </section>
      ) : (
        <>
          <section aria-labelledby="layers-heading">
            <h2 id="layers-heading">Layers</h2>
            <Layers layers={manifest.layers ?? []} caption="Layers" />
          </section>
          <section>
            <ImageConfigView config={manifest.config} headingLevel={2} />
          </section>
        </>
      )}

      {manifest.kind === 'index' && pull}

      <section aria-labelledby="referrers-heading">
        <h2 id="referrers-heading">Referrers</h2>
        <Referrers name={manifest.name} referrers={manifest.referrers} />
      </section>

      {manifest.canDelete && <Delete manifest={manifest} />}
    </>
  );
}

function PlatformCard({ name, p }: { name: string; p: PlatformManifest }) {
  return (
    <section
      class="platform card" aria-labelledby={`platform-${p.digest}`} data-testid="platform" data-platform={platformLabel(p.platform)}
    >
      <h3 id={`platform-${p.digest}`}>{platformLabel(p.platform)}</h3>
      <dl class="facts">
        <dt>Digest</dt>
        <dd>
          <a href={href({ page: 'manifest', name, ref: p.digest })}><code class="wrap">{p.digest}</code></a>
        </dd>
        <dt>Size</dt>
        <dd data-testid="platform-size">{formatSize(p.size)}</dd>
        <dt>Created</dt>
        <dd>{formatDate(p.config?.created)}</dd>
      </dl>
      <h4>Layers</h4>
      <Layers layers={p.layers} caption={`Layers of ${platformLabel(p.platform)}`} />
      <details class="config-details">
        <summary>Config of {platformLabel(p.platform)}</summary>
        <ImageConfigView config={p.config} headingLevel={4} />
      </details>
    </section>
  );
}

/** A platform the gateway listed from the index alone: its layers and config are read when it is opened. */
function ListedPlatform({ name, reference, entry }: { name: string; reference: string; entry: PlatformManifest }) {
  const [open, setOpen] = useState(false);
  if (open) return <LoadedPlatform name={name} reference={reference} entry={entry} />;
  return (
    <section
      class="platform card" aria-labelledby={`platform-${entry.digest}`} data-testid="platform"
      data-platform={platformLabel(entry.platform)}
    >
      <h3 id={`platform-${entry.digest}`}>{platformLabel(entry.platform)}</h3>
      <dl class="facts">
        <dt>Digest</dt>
        <dd>
          <a href={href({ page: 'manifest', name, ref: entry.digest })}><code class="wrap">{entry.digest}</code></a>
        </dd>
      </dl>
      <button type="button" data-testid="platform-open" onClick={() => setOpen(true)}>Show layers and config</button>
    </section>
  );
}

function LoadedPlatform({ name, reference, entry }: { name: string; reference: string; entry: PlatformManifest }) {
  const { data, error, loading } = useLoad(
    (signal) => api.platform(name, reference, entry.digest, signal), [name, reference, entry.digest],
  );
  if (data) return <PlatformCard name={name} p={data} />;
  return (
    <section class="platform card" data-testid="platform" data-platform={platformLabel(entry.platform)}>
      <h3>{platformLabel(entry.platform)}</h3>
      {loading && <Loading what="the platform" />}
      {error && <ErrorMessage error={error} />}
    </section>
  );
}

function Referrers({ name, referrers }: { name: string; referrers: Referrer[] | null }) {
  if (referrers === null) return <p class="muted">The referrers of this manifest could not be read from the registry.</p>;
  if (referrers.length === 0) return <p class="muted">Nothing refers to this manifest (no signature, SBOM or other artifact).</p>;
  return (
    <div class="table-wrap">
      <table class="table referrers" data-testid="referrers">
        <thead>
          <tr>
            <th scope="col">Artifact type</th>
            <th scope="col">Digest</th>
            <th scope="col" class="num">Size</th>
            <th scope="col">Annotations</th>
          </tr>
        </thead>
        <tbody>
          {referrers.map((r) => (
            <tr key={r.digest}>
              <td data-label="Artifact type" class="wrap">{r.artifactType || mediaTypeLabel(r.mediaType)}</td>
              <td data-label="Digest"><a href={href({ page: 'manifest', name, ref: r.digest })}><code>{shortDigest(r.digest)}</code></a></td>
              <td data-label="Size" class="num">{formatSize(r.size)}</td>
              <td data-label="Annotations">
                {Object.entries(r.annotations ?? {}).length === 0 ? (
                  <span class="muted">—</span>
                ) : (
                  <ul class="plain">
                    {Object.entries(r.annotations ?? {}).map(([k, v]) => (
                      <li key={k}><code class="wrap">{k}</code>: <span class="wrap">{v}</span></li>
                    ))}
                  </ul>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Delete({ manifest }: { manifest: ManifestDetail }) {
  const { flash } = useSession();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const tags = byVersion(manifest.tags ?? []);
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.deleteManifest(manifest.name, manifest.digest);
      flash(`Deleted ${manifest.name}@${shortDigest(manifest.digest)}${tags.length ? ` and its ${plural(tags.length, 'tag')} (${tags.join(', ')})` : ''}.`);
      navigate(href({ page: 'tags', name: manifest.name }), { replace: true });
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="delete-heading" class="danger-zone">
      <h2 id="delete-heading">Delete</h2>
      <p>Deletes the manifest {shortDigest(manifest.digest)} from the registry, with every tag on it.</p>
      <button type="button" class="danger" onClick={() => setOpen(true)}>Delete</button>
      {open && (
        <Dialog title="Delete this manifest?" onClose={() => !busy && setOpen(false)} testId="delete-dialog">
          <p>
            This deletes <code class="wrap">{manifest.name}@{manifest.digest}</code>. The registry deletes by digest, so{' '}
            <strong>every tag on this digest goes with it</strong>
            {tags.length ? <>, including {tags.map((t, i) => <span key={t}>{i ? ', ' : ''}<code>{t}</code></span>)}</> : ''}.
            {manifest.kind === 'index' ? ' The platforms’ own manifests stay until the registry’s garbage collection removes them.' : ''}
          </p>
          <p>This cannot be undone. Layers stay in storage until the registry’s garbage collection runs.</p>
          {error && <ErrorMessage error={error} testId="delete-error" />}
          <div class="dialog-actions">
            <button type="button" data-autofocus onClick={() => setOpen(false)} disabled={busy}>Cancel</button>
            <button type="button" class="danger" onClick={confirm} disabled={busy}>{busy ? 'Deleting…' : 'Delete manifest'}</button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
