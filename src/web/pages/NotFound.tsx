import { href } from '../lib/routes.js';
import { useTitle } from '../hooks.js';

export function NotFoundPage({ path }: { path: string }) {
  useTitle('Not found');
  return (
    <section class="page">
      <h1 tabIndex={-1}>Not found</h1>
      <p>There is no page at <code>{path}</code>, or a part of its address (?name=, ?ref=) is missing.</p>
      <p><a href={href({ page: 'repositories', q: '' })}>Go to the repositories</a></p>
    </section>
  );
}
