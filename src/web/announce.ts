// One polite live region for short news ("Copied", "Deleted ..."), so screen
// readers hear what a button did without focus moving.
let timer: ReturnType<typeof setTimeout> | undefined;

export function announce(message: string): void {
  const region = document.getElementById('announcer');
  if (!region) return;
  // Cleared first: the same message twice in a row is announced twice.
  region.textContent = '';
  clearTimeout(timer);
  timer = setTimeout(() => {
    region.textContent = message;
  }, 50);
}
