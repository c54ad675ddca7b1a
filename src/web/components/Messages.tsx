// Loading and error states, the same on every page.
export function Loading({ what }: { what: string }) {
  return <p class="loading" role="status">Loading {what}…</p>;
}

export function ErrorMessage({ error, testId = 'error' }: { error: Error; testId?: string }) {
  return (
    <div class="alert error" role="alert" data-testid={testId}>
      {error.message}
    </div>
  );
}
