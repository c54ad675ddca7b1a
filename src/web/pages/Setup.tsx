// "Set up a node": trust the gateway's CA (its fingerprint, the pinned
// one-line command, the bundle), what each runtime needs after that, an
// imagePullSecret for the logged-in user, and the certificate's status.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { daysLeftText, expiryText, formatDate } from '../lib/format.js';
import { href } from '../lib/routes.js';
import { parseStep } from '../lib/steps.js';
import { DEFAULT_SECRET_NAME, namespaceProblem, pullSecretYaml, secretNameProblem } from '../lib/secret.js';
import type { RuntimeSteps, Setup } from '../lib/types.js';
import { useSession } from '../session.js';
import { useLoad, useTitle } from '../hooks.js';
import { Command, CopyButton } from '../components/CopyButton.js';
import { ErrorMessage, Loading } from '../components/Messages.js';
import { Tabs } from '../components/Tabs.js';

const RUNTIMES: { id: keyof RuntimeSteps; label: string }[] = [
  { id: 'docker', label: 'Docker' },
  { id: 'containerd', label: 'containerd' },
  { id: 'k3s', label: 'k3s' },
  { id: 'kind', label: 'kind' },
  { id: 'k3d', label: 'k3d' },
  { id: 'kubernetes', label: 'Kubernetes' },
];

export function SetupPage() {
  useTitle('Set up a node');
  const { data, error, loading } = useLoad((signal) => api.setup(signal), []);
  return (
    <section class="page">
      <h1 tabIndex={-1}>Set up a node</h1>
      {loading && <Loading what="the setup" />}
      {error && <ErrorMessage error={error} />}
      {data && <SetupDetail setup={data} />}
    </section>
  );
}

/** The host a pinned command downloads from (https://HOST/trust/ca.crt), for its button's name. */
function commandHost(command: string): string | null {
  return /https:\/\/([^/\s'"]+)\/trust\//.exec(command)?.[1] ?? null;
}

/** The pinned one-line setup for one address (the first one is the address this page came from). */
function SetupCommand({ command, index }: { command: string; index: number }) {
  const host = commandHost(command);
  return (
    <Command
      label={host ? `Copy setup command for ${host}` : `Copy setup command ${index + 1}`}
      command={command}
      testId={`setup-command-${index}`}
    />
  );
}

function SetupDetail({ setup }: { setup: Setup }) {
  return (
    <>
      <section aria-labelledby="trust-heading">
        <h2 id="trust-heading">Trust the gateway's CA</h2>
        {setup.caSha256 === null ? (
          <p class="alert info" data-testid="trust-off">
            This gateway serves no <code>/trust/</code> (there is no ca.crt beside its server certificate): install its CA on each node by hand,
            or make the files with <code>gateway bundle</code>.
          </p>
        ) : (
          <>
            <p>
              Nodes pull from <code>{setup.registry}</code> over TLS signed by the gateway's own CA. Run this as root on each node:
              it checks the CA's SHA-256 before it installs anything.
            </p>
            {setup.commands.length > 0 && <SetupCommand command={setup.commands[0]!} index={0} />}
            {setup.commands.length > 1 && (
              <details class="other-commands">
                <summary>
                  For the gateway's other addresses ({setup.commands.slice(1).map((c) => commandHost(c) ?? '?').join(', ')})
                </summary>
                <div class="commands">
                  {setup.commands.slice(1).map((command, i) => (
                    <SetupCommand key={command} command={command} index={i + 1} />
                  ))}
                </div>
              </details>
            )}
            <p class="muted small">Add <code>--dry-run</code> at the end to see what it would change first.</p>
            <dl class="facts">
              <dt>CA file SHA-256</dt>
              <dd>
                <span class="digest">
                  <code class="wrap" data-testid="ca-sha256">{setup.caSha256}</code>
                  <CopyButton label="Copy CA file SHA-256" text={setup.caSha256} />
                </span>
                <span class="muted small"> (sha256sum of ca.crt: what the command checks)</span>
              </dd>
              {setup.caFingerprints.map((fingerprint, i) => (
                <Fragment key={fingerprint}>
                  <dt>CA certificate fingerprint{setup.caFingerprints.length > 1 ? ` ${i + 1}` : ''}</dt>
                  <dd>
                    <code class="wrap" data-testid="ca-fingerprint">{fingerprint}</code>
                    <span class="muted small"> (SHA-256, as openssl x509 -fingerprint -sha256 and browsers show it)</span>
                  </dd>
                </Fragment>
              ))}
              {setup.bundleUrl && (
                <>
                  <dt>Bundle</dt>
                  <dd>
                    <a href={setup.bundleUrl} download data-testid="bundle-link">Download the trust bundle</a>{' '}
                    <span class="muted small">(every runtime's files; unpack it in /opt for the kind and k3d configs)</span>
                  </dd>
                </>
              )}
            </dl>
          </>
        )}
      </section>

      <section aria-labelledby="runtimes-heading">
        <h2 id="runtimes-heading">Then, for each runtime</h2>
        <Tabs
          label="Runtimes"
          tabs={RUNTIMES.map(({ id, label }) => ({
            id,
            label,
            content: <Steps runtime={label} steps={setup.steps[id] ?? []} />,
          }))}
        />
      </section>

      <PullSecretSection registry={setup.registry} registries={setup.registries} />

      <CertificateStatus certificate={setup.certificate} />
    </>
  );
}

/** Prose as a list item, a command on its own line with a copy button. */
function Steps({ runtime, steps }: { runtime: string; steps: string[] }) {
  if (steps.length === 0) return <p class="muted">Nothing more to do.</p>;
  return (
    <ol class="steps">
      {steps.map((raw, i) => {
        const step = parseStep(raw);
        return step.kind === 'command' ? (
          <li key={i}>
            <Command label={`Copy ${runtime} step ${i + 1}`} command={step.command} />
            {step.note && <p class="muted small step-note">{step.note}</p>}
          </li>
        ) : (
          <li key={i}>{step.text}</li>
        );
      })}
    </ol>
  );
}

function PullSecretSection({ registry, registries }: { registry: string; registries: string[] }) {
  const { session } = useSession();
  const [namespace, setNamespace] = useState('default');
  const [name, setName] = useState(DEFAULT_SECRET_NAME);
  const [password, setPassword] = useState('');
  const [yaml, setYaml] = useState<string | null>(null);
  const [problem, setProblem] = useState<{ text: string; field: 'namespace' | 'name' | 'password' | null } | null>(null);
  const [busy, setBusy] = useState(false);
  // Token mode asks the server (a pull-only token); htpasswd mode, or a server that says
  // template: true, builds the Secret here from the typed password.
  const [chosen, setLocal] = useState<boolean | null>(null);
  const local = chosen ?? session?.mode === 'htpasswd';
  const [tokenEnds, setTokenEnds] = useState<string | null>(null);
  // A problem with one field is tied to it: read out with the field, and the field marked invalid.
  const fieldProps = (field: 'namespace' | 'name' | 'password') => (problem?.field === field
    ? { 'aria-invalid': true as const, 'aria-describedby': 'pull-secret-error' }
    : {});

  let body;
  if (!session) {
    body = <Loading what="your session" />;
  } else if (session.mode === 'none') {
    body = <p class="muted">This gateway has no logins: pods pull without an imagePullSecret.</p>;
  } else if (!session.user) {
    body = (
      <p>
        <a href={href({ page: 'login', next: href({ page: 'setup' }) })}>Log in</a> to make an imagePullSecret for your user.
      </p>
    );
  } else {
    const submit = async (event: Event) => {
      event.preventDefault();
      setYaml(null);
      const nsProblem = namespaceProblem(namespace);
      const nameProblem = secretNameProblem(name);
      if (nsProblem || nameProblem) {
        setProblem(nsProblem ? { text: nsProblem, field: 'namespace' } : { text: nameProblem!, field: 'name' });
        return;
      }
      setProblem(null);
      if (local) {
        try {
          setYaml(pullSecretYaml({ registry, registries, username: session.user!, password, namespace, name }));
        } catch (e) {
          setProblem({ text: (e as Error).message, field: 'password' });
        }
        return;
      }
      setBusy(true);
      try {
        const answer = await api.pullSecret(namespace, name);
        if (answer.yaml) {
          setYaml(answer.yaml);
          setTokenEnds(answer.expiresAt ?? null);
        } else {
          if (answer.name) setName(answer.name);
          setLocal(true);
          const text = 'This gateway does not make the Secret itself: type your password below to build it in this page.';
          setProblem({ text, field: null });
        }
      } catch (e) {
        setProblem({ text: (e as Error).message, field: null });
      } finally {
        setBusy(false);
      }
    };
    body = (
      <>
        {local ? (
          <p>
            The Secret holds your password, so it is built here in the browser from the password you type: <strong>it is not sent anywhere</strong>.
          </p>
        ) : (
          <p>The gateway makes the Secret on a pull-only token for {session.user}, not on your password. It stops working when the token expires.</p>
        )}
        <p class="muted small" data-testid="pull-secret-addresses">
          For {registries.length > 1 ? 'every address of the gateway' : 'the address'}: {registries.map((r, i) => (
            <Fragment key={r}>{i > 0 && ', '}<code>{r}</code></Fragment>
          ))}.
        </p>
        <form class="form inline-form" onSubmit={submit} noValidate data-testid="pull-secret-form">
          <div class="field">
            <label for="secret-namespace">Namespace</label>
            <input id="secret-namespace" {...fieldProps('namespace')} value={namespace} autocapitalize="none" spellcheck={false}
              onInput={(e) => setNamespace(e.currentTarget.value.trim())} />
          </div>
          <div class="field">
            <label for="secret-name">Secret name</label>
            <input id="secret-name" {...fieldProps('name')} value={name} autocapitalize="none" spellcheck={false}
              onInput={(e) => setName(e.currentTarget.value.trim())} />
          </div>
          {local && (
            <div class="field">
              <label for="secret-password">Your password</label>
              <input id="secret-password" {...fieldProps('password')} type="password" autocomplete="current-password" value={password}
                onInput={(e) => setPassword(e.currentTarget.value)} />
            </div>
          )}
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Making…' : 'Make the pull secret'}</button>
        </form>
        {problem && <p class="alert error" role="alert" id="pull-secret-error" data-testid="pull-secret-error">{problem.text}</p>}
        {yaml && (
          <div class="secret">
            <div class="secret-head">
              <p>Apply it with <code>kubectl apply -f -</code> and name it in the pod's <code>imagePullSecrets</code>:</p>
              <CopyButton label="Copy pull secret YAML" text={yaml} />
            </div>
            {/* Wrapped, so that it reflows at 320 px; a labelled region all the same, reachable by keyboard. */}
            <pre class="block wrap-lines" role="region" aria-label="Pull secret YAML" tabIndex={0} data-testid="pull-secret-yaml">
              {yaml}
            </pre>
            {!local && tokenEnds && <p class="muted small">The token in it ends {formatDate(tokenEnds)}: make a new one then.</p>}
          </div>
        )}
      </>
    );
  }
  return (
    <section aria-labelledby="secret-heading">
      <h2 id="secret-heading">Image pull secret</h2>
      {body}
    </section>
  );
}

function CertificateStatus({ certificate }: { certificate: Setup['certificate'] }) {
  return (
    <section aria-labelledby="certificate-heading" data-testid="certificate">
      <h2 id="certificate-heading">Certificate</h2>
      {certificate.warning && (
        <p class="alert warning" role="alert" data-testid="certificate-warning">
          The gateway's certificate {expiryText(certificate.daysLeft)}: renew it
          with <code>gateway certs renew</code> (nodes need nothing new: the CA stays the same).
        </p>
      )}
      <dl class="facts">
        <dt>Names</dt>
        <dd>
          <ul class="chips">
            {certificate.names.map((n) => (
              <li class="chip" key={n}>{n}</li>
            ))}
          </ul>
        </dd>
        <dt>Valid until</dt>
        <dd>{formatDate(certificate.notAfter)}</dd>
        <dt>Days left</dt>
        <dd data-testid="certificate-days-left">{daysLeftText(certificate.daysLeft)}</dd>
      </dl>
    </section>
  );
}
