// A button that puts text on the clipboard and says so: "Copied" on the
// button for two seconds and in the live region. Its accessible name says
// what it shows: "Copy docker pull by tag", then "Copied docker pull by tag".
import { useState } from 'preact/hooks';
import { announce } from '../announce.js';
import { useFlash } from '../hooks.js';

interface Props {
  label: string;
  text: string;
  /** The visible word; "Copy" unless told. */
  children?: string;
  testId?: string;
}

export function CopyButton({ label, text, children = 'Copy', testId }: Props) {
  const [copied, flash] = useFlash(2000);
  const [failed, setFailed] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setFailed(false);
      flash();
      announce('Copied');
    } catch {
      // No clipboard (an insecure context or a refused permission): the text is on the page to select.
      setFailed(true);
      announce('Could not copy: select the text and copy it yourself');
    }
  };
  return (
    <button
      type="button"
      class={`copy${copied ? ' copied' : ''}${failed ? ' failed' : ''}`}
      aria-label={copied ? label.replace(/^Copy\b/, 'Copied') : failed ? label.replace(/^Copy\b/, 'Copy failed:') : label}
      data-testid={testId}
      data-copied={copied ? 'true' : undefined}
      onClick={copy}
    >
      {copied ? 'Copied' : failed ? 'Copy failed' : children}
    </button>
  );
}

/** A command on its own line, selectable, with its copy button. */
export function Command({ label, command, testId }: { label: string; command: string; testId?: string }) {
  return (
    <div class="command">
      <code class="command-text">{command}</code>
      <CopyButton label={label} text={command} {...(testId ? { testId } : {})} />
    </div>
  );
}
