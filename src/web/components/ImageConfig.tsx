// An image's config: how it starts (entrypoint, cmd, user, working dir), its
// environment and labels, and the history of the steps that built it.
import { formatDate, platformLabel } from '../lib/format.js';
import type { ImageConfig } from '../lib/types.js';

function Words({ words }: { words: string[] | null | undefined }) {
  if (!words || words.length === 0) return <span class="muted">—</span>;
  // As JSON, exactly as the config holds it (["sh","-c","..."]): no guessing at shell quoting.
  return <code class="wrap">{JSON.stringify(words)}</code>;
}

export function ImageConfigView({ config, headingLevel = 3 }: { config: ImageConfig | null | undefined; headingLevel?: 2 | 3 | 4 }) {
  const H = `h${headingLevel}` as 'h2' | 'h3' | 'h4';
  // Environment and labels are parts of the config: one level below its heading.
  const Sub = `h${Math.min(headingLevel + 1, 5)}` as 'h3' | 'h4' | 'h5';
  if (!config) return <p class="muted">No image config (not an image, or the registry did not return it).</p>;
  const env = config.env ?? [];
  const labels = Object.entries(config.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const history = config.history ?? [];
  return (
    <div class="config">
      <H>Config</H>
      {config.truncated && (
        <p class="muted small" data-testid="config-truncated">
          Long fields are cut ([truncated]): the gateway shows at most 4 KiB of one and 64 KiB of one config.
        </p>
      )}
      <dl class="facts">
        <dt>Created</dt>
        <dd>{formatDate(config.created)}</dd>
        {(config.os || config.architecture) && (
          <>
            <dt>Platform</dt>
            <dd>{platformLabel({ os: config.os ?? '', architecture: config.architecture ?? '' })}</dd>
          </>
        )}
        <dt>Entrypoint</dt>
        <dd><Words words={config.entrypoint} /></dd>
        <dt>Cmd</dt>
        <dd><Words words={config.cmd} /></dd>
        <dt>User</dt>
        <dd>{config.user ? <code>{config.user}</code> : <span class="muted">— (root)</span>}</dd>
        <dt>Working dir</dt>
        <dd>{config.workingDir ? <code>{config.workingDir}</code> : <span class="muted">—</span>}</dd>
      </dl>
      <Sub>Environment</Sub>
      {env.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <ul class="plain env">
          {env.map((e, i) => (
            <li key={i}><code class="wrap">{e}</code></li>
          ))}
        </ul>
      )}
      <Sub>Labels</Sub>
      {labels.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <div class="table-wrap">
          <table class="table labels">
            <thead>
              <tr><th scope="col">Label</th><th scope="col">Value</th></tr>
            </thead>
            <tbody>
              {labels.map(([k, v]) => (
                <tr key={k}>
                  <th scope="row" data-label="Label"><code class="wrap">{k}</code></th>
                  <td data-label="Value" class="wrap">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {history.length > 0 && (
        <details class="history">
          <summary>History ({history.length} {history.length === 1 ? 'step' : 'steps'})</summary>
          <ol>
            {history.map((h, i) => (
              <li key={i}>
                <div class="history-meta">
                  {formatDate(h.created)}
                  {h.emptyLayer ? <span class="chip subtle">no layer</span> : null}
                </div>
                {h.createdBy ? <code class="wrap block">{h.createdBy}</code> : null}
                {h.comment ? <p class="muted">{h.comment}</p> : null}
              </li>
            ))}
          </ol>
        </details>
      )}
    </div>
  );
}
