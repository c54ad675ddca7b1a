// An image's layers, in order, with sizes and their sum.
import { formatSize, mediaTypeLabel, shortDigest } from '../lib/format.js';
import type { Layer } from '../lib/types.js';

export function Layers({ layers, caption }: { layers: Layer[]; caption: string }) {
  if (layers.length === 0) return <p class="muted">No layers.</p>;
  const total = layers.reduce((sum, l) => sum + l.size, 0);
  return (
    <div class="table-wrap">
      <table class="table layers" data-testid="layers">
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col" class="num">#</th>
            <th scope="col">Digest</th>
            <th scope="col">Type</th>
            <th scope="col" class="num">Size</th>
          </tr>
        </thead>
        <tbody>
          {layers.map((layer, i) => (
            <tr key={`${i}-${layer.digest}`}>
              <td data-label="#" class="num">{i + 1}</td>
              <td data-label="Digest"><code title={layer.digest}>{shortDigest(layer.digest)}</code></td>
              <td data-label="Type">{mediaTypeLabel(layer.mediaType)}</td>
              <td data-label="Size" class="num">{formatSize(layer.size)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={3}>{layers.length} {layers.length === 1 ? 'layer' : 'layers'}</th>
            <td data-label="Total" class="num">{formatSize(total)}</td>
          </tr>
        </tfoot>
      </table>
    </div>
  );
}
