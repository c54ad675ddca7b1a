// `gateway deploy kubernetes` as pure functions: the in-container rewrite of
// gateway.yaml, which files go into the Secrets (and which never do), the
// refusals of bad flags, and the directory it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { configSets, containerConfig, readUserConfig } from '../../src/deploy/containerConfig.js';
import {
  certificateWarnings, chooseUpstream, parseImage, parseNamespace, parseOverlay, parseSelector, retiredTokenCerts,
  tlsInputs, tokenInputs, upstreamNamespace,
} from '../../src/deploy/inputs.js';
import { IN_CONTAINER, MARKER } from '../../src/deploy/layout.js';
import { kustomization, renderDirectory, type RenderInput, type ShippedFile } from '../../src/deploy/render.js';
import { GatewayError } from '../../src/errors.js';
import { ROOT } from '../helpers/exec.js';

const example = await readFile(join(ROOT, 'config/gateway.yaml'), 'utf8');
const rewrite = (text: string | undefined, extra: Partial<Parameters<typeof containerConfig>[1]> = {}) =>
  containerConfig(text, { source: 'config/gateway.yaml', file: 'config/gateway.yaml', upstream: IN_CONTAINER.bundledUpstream, redis: true, ...extra });
const refused = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (err: unknown) => err instanceof GatewayError && pattern.test(err.message));

test('the example gateway.yaml, rewritten for the Pod: the contract\'s paths and addresses, the user\'s rules kept', () => {
  const { text, config } = rewrite(example);
  const raw = parse(text);
  assert.equal(raw.listen, '[::]:5443');
  assert.equal(raw.upstream, 'http://registry:5000');
  assert.deepEqual(raw.tls, { cert: '/etc/gateway/certs/server.crt', key: '/etc/gateway/certs/server.key' });
  assert.equal(raw.auth.htpasswd, '/etc/gateway/users/htpasswd');
  assert.equal(raw.auth.mode, 'htpasswd');
  assert.deepEqual(raw.metrics, { listen: '[::]:9464' });
  assert.deepEqual(raw.redis, { url: 'redis://registry-gateway-redis:6379', passwordFile: '/etc/gateway/redis/password' });
  assert.equal(raw.shutdown.delay, 10, 'a delay for endpoints and cloud load balancers to drop the pod, when the file sets none');
  assert.deepEqual(raw.access, parse(example).access, 'access rules unchanged');
  assert.equal(config.shutdown.grace, 300, 'long enough for a push in flight');
  assert.match(text, /^# Written by `gateway deploy kubernetes` from config\/gateway\.yaml/);
  assert.doesNotMatch(text, /[\s:]certs\/|[\s:]config\/htpasswd|127\.0\.0\.1/, 'no path or address of this machine is left');
});

test('no config file: the defaults, with the same rewrite', () => {
  const { config } = rewrite(undefined, { file: undefined, source: 'the defaults' });
  assert.equal(config.tls.cert, IN_CONTAINER.cert);
  assert.equal(config.auth.htpasswd, IN_CONTAINER.htpasswd);
  assert.equal(config.upstream, 'http://registry:5000');
});

test('--single leaves redis out; a user\'s Redis is replaced by the bundled one, its passwordFile dropped, and said', () => {
  const text = 'redis:\n  url: redis://cache.example.test:6379\n  passwordFile: /run/redis-pw\n  prefix: "gw:"\nshutdown:\n  delay: 0\n  grace: 120\n';
  const single = rewrite(text, { redis: false });
  assert.equal(parse(single.text).redis, undefined);
  assert.match(single.notes.join('\n'), /--single/);
  const shared = rewrite(text);
  assert.deepEqual(parse(shared.text).redis, { url: IN_CONTAINER.redis, passwordFile: IN_CONTAINER.redisPassword, prefix: 'gw:' });
  assert.match(shared.notes.join('\n'), /cache\.example\.test.*replaced/);
  assert.deepEqual(shared.config.shutdown, { delay: 0, grace: 120 }, 'a delay the user set is kept, even 0');
});

test('token mode: the signing key and verifyKeys move to the token mount; tls.clientCA to the certs mount', () => {
  const text = 'publicUrl: https://registry.example.test:5443\ntls:\n  clientCA: certs/ca.crt\n' +
    'auth:\n  mode: token\n  token:\n    signingKey: keys/signer.key\n    verifyKeys: [old/signer-a.crt]\n';
  const { config } = rewrite(text, { clientCA: '/etc/gateway/certs/ca.crt', verifyKeys: ['/etc/gateway/token/signer-a.crt'] });
  assert.ok(config.auth.mode === 'token');
  assert.equal(config.auth.token.signingKey, '/etc/gateway/token/token.key');
  assert.deepEqual(config.auth.token.verifyKeys, ['/etc/gateway/token/signer-a.crt']);
  assert.equal(config.auth.token.service, 'registry.example.test:5443');
  assert.equal(config.tls.clientCA, '/etc/gateway/certs/ca.crt');
  assert.ok(configSets(text, ['auth', 'token', 'signingKey']));
  assert.ok(!configSets(example, ['auth', 'token', 'signingKey']), 'a commented-out key is not set');
});

test('a broken config is refused with its path, before anything is written', () => {
  refused(() => rewrite('auth:\n  htpaswd: x\n'), /config\/gateway\.yaml: auth: unknown key\(s\) 'htpaswd'/);
  refused(() => rewrite('listen: [\n'), /config\/gateway\.yaml: /);
  refused(() => readUserConfig('auth:\n  mode: token\n', 'g.yaml'), /auth\.token\.service: required in token mode/);
});

test('the TLS Secret: the server pair and the CAs beside it, never ca.key; keys 0600', () => {
  const files = tlsInputs('certs/server.crt', 'certs/server.key', 'certs', ['ca.key', 'ca.crt', 'server.crt', 'server.key', 'ca-next.crt', 'ca-next.key', 'token.key']);
  assert.deepEqual(files.map((f) => [f.to, f.mode.toString(8)]), [
    ['certs/server.crt', '644'], ['certs/server.key', '600'], ['certs/ca.crt', '644'], ['certs/ca-next.crt', '644'],
  ]);
  assert.ok(!files.some((f) => f.from.endsWith('ca.key') || f.from.endsWith('ca-next.key') || f.from.endsWith('token.key')));
  assert.deepEqual(tlsInputs('/srv/my.crt', '/srv/my.key', '/srv', []).map((f) => f.to), ['certs/server.crt', 'certs/server.key'],
    'whatever the files are called here, the Pod reads server.crt and server.key');
});

test('the token Secret: key and certificate, retired certificates (not their keys), verifyKeys; refusals', () => {
  const listing = ['token.key', 'token.crt', 'token-20260101T000000.crt', 'token-20260101T000000.key', 'token-x.crt', 'ca.key'];
  const retired = retiredTokenCerts('certs/token.key', listing);
  assert.deepEqual(retired, ['token-20260101T000000.crt']);
  const { files, verifyKeys } = tokenInputs('certs/token.key', 'certs/token.crt', retired, ['/old/signer-a.crt'], 'certs');
  assert.deepEqual(files.map((f) => [f.to, f.mode.toString(8)]), [
    ['token/token.key', '600'], ['token/token.crt', '644'], ['token/token-20260101T000000.crt', '644'], ['token/signer-a.crt', '644'],
  ]);
  assert.deepEqual(verifyKeys, ['/etc/gateway/token/signer-a.crt']);
  // A key named otherwise is token.key in the Pod: its retired certificates follow the name.
  const renamed = tokenInputs('k/signer.key', 'k/signer.crt', retiredTokenCerts('k/signer.key', ['signer-20260101T000000.crt']), [], 'k');
  assert.equal(renamed.files[2]!.to, 'token/token-20260101T000000.crt');
  refused(() => tokenInputs('certs/token.key', 'certs/token.crt', [], ['old/retired.key'], 'certs'), /not a \.crt: only certificates verify/);
  refused(() => tokenInputs('certs/token.key', 'certs/token.crt', [], ['other/token.crt'], 'certs'), /would both be \/etc\/gateway\/token\/token\.crt/);
});

test('flags: overlay, namespace, image, selector, upstream', () => {
  assert.equal(parseOverlay('existing-registry'), 'existing-registry');
  refused(() => parseOverlay('bundled'), /unknown --overlay 'bundled': choose with-registry .* or existing-registry/);
  refused(() => parseNamespace('Registry_GW'), /invalid --namespace/);
  assert.deepEqual(parseImage('registry-gateway:0.1.0'), { newName: 'registry-gateway', newTag: '0.1.0' });
  assert.deepEqual(parseImage('reg.example.test:5443/ops/registry-gateway@sha256:' + 'a'.repeat(64)),
    { newName: 'reg.example.test:5443/ops/registry-gateway', digest: `sha256:${'a'.repeat(64)}` });
  refused(() => parseImage('Registry Gateway'), /invalid --image/);
  assert.deepEqual(parseSelector('app=docker-registry, release=reg'), { app: 'docker-registry', release: 'reg' });
  assert.deepEqual(parseSelector('app.kubernetes.io/name=registry'), { 'app.kubernetes.io/name': 'registry' });
  refused(() => parseSelector('app'), /expected KEY=VALUE/);
  refused(() => parseSelector('app=a b'), /invalid --registry-selector 'app=a b'/);
  assert.equal(chooseUpstream('with-registry', undefined, 'http://127.0.0.1:5000'), 'http://registry:5000');
  refused(() => chooseUpstream('with-registry', 'http://x:5000', undefined), /--upstream is for --overlay existing-registry/);
  refused(() => chooseUpstream('existing-registry', undefined, undefined), /needs --upstream URL/);
  refused(() => chooseUpstream('existing-registry', undefined, 'http://127.0.0.1:5000'), /this machine's loopback/);
  refused(() => chooseUpstream('existing-registry', 'http://localhost:5000', undefined), /loopback in the Pod is the Pod itself/);
  refused(() => chooseUpstream('existing-registry', 'http://registry:5000/v2', undefined), /with no path/);
  assert.equal(chooseUpstream('existing-registry', undefined, 'http://registry.registry.svc.cluster.local:5000'), 'http://registry.registry.svc.cluster.local:5000');
  assert.equal(upstreamNamespace('http://registry.infra.svc.cluster.local:5000'), 'infra');
  assert.equal(upstreamNamespace('http://registry:5000'), undefined);
});

test('a certificate that does not name the Service or publicUrl\'s host: a warning with the add-host command', () => {
  const none = certificateWarnings(() => false, { namespace: 'gw', publicUrl: 'https://registry.example.test:5443', certPath: 'certs/server.crt', certsDir: 'certs' });
  assert.equal(none.length, 2);
  assert.match(none[0]!, /names neither registry-gateway\.gw\.svc nor registry-gateway\.gw\.svc\.cluster\.local.*'gateway certs add-host --dir certs --host registry-gateway\.gw\.svc\.cluster\.local'/);
  assert.match(none[1]!, /does not name registry\.example\.test.*--host registry\.example\.test'/);
  const names = new Set(['registry-gateway.gw.svc.cluster.local', 'registry.example.test']);
  assert.deepEqual(certificateWarnings((h) => names.has(h), { namespace: 'gw', publicUrl: 'https://registry.example.test:5443', certPath: 'c', certsDir: 'certs' }), []);
});

async function shippedTree(dir = join(ROOT, 'deploy/kubernetes'), prefix = ''): Promise<ShippedFile[]> {
  const out: ShippedFile[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await shippedTree(join(dir, e.name), rel)));
    else if (e.name.endsWith('.yaml')) out.push({ path: rel, content: await readFile(join(dir, e.name), 'utf8') });
  }
  return out;
}

const shipped = await shippedTree();
const input = (extra: Partial<RenderInput> = {}): RenderInput => ({
  version: '0.1.0', overlay: 'with-registry', namespace: 'registry-gateway', image: { newName: 'registry-gateway', newTag: '0.1.0' },
  shipped, config: 'listen: "[::]:5443"\n', shutdown: { delay: 5, grace: 30 },
  secrets: [
    { path: 'certs/server.crt', content: 'C', mode: 0o644 }, { path: 'certs/server.key', content: 'K', mode: 0o600 },
    { path: 'users/htpasswd', content: 'alice:$2y$', mode: 0o600 }, { path: 'registry/http-secret', content: 'abc', mode: 0o600 },
  ],
  single: false, serviceMonitor: false, ...extra,
});

test('the directory: the base, only the chosen overlay, the components, the generator inputs with their modes', () => {
  const files = renderDirectory(input());
  const paths = files.map((f) => f.path);
  assert.ok(paths.includes('overlays/with-registry/registry.yaml'));
  assert.ok(!paths.some((p) => p.startsWith('overlays/existing-registry/')), 'only the chosen overlay');
  assert.ok(paths.includes('base/gateway-deployment.yaml') && paths.includes('components/servicemonitor/servicemonitor.yaml'));
  for (const p of ['kustomization.yaml', 'namespace.yaml', '.gitignore', 'config/gateway.yaml']) assert.ok(paths.includes(p), p);
  assert.equal(files.find((f) => f.path === 'certs/server.key')!.mode, 0o600);
  assert.equal(files.find((f) => f.path === 'config/gateway.yaml')!.mode, 0o644);
  assert.match(String(files.find((f) => f.path === '.gitignore')!.content), /\/certs\/\n\/users\/\n\/token\/\n\/registry\/\n/);
  const k = parse(kustomization(input()));
  assert.ok(kustomization(input()).startsWith(MARKER), 'the marker that --force looks for');
  assert.deepEqual(k.resources, ['namespace.yaml', 'overlays/with-registry']);
  assert.equal(k.namespace, 'registry-gateway');
  assert.deepEqual(k.images, [{ name: 'registry-gateway', newName: 'registry-gateway', newTag: '0.1.0' }]);
  assert.deepEqual(k.configMapGenerator, [{ name: 'registry-gateway-config', files: ['config/gateway.yaml'] }]);
  assert.deepEqual(k.secretGenerator.map((g: { name: string; files: string[]; options?: unknown }) => [g.name, g.files, g.options !== undefined]), [
    ['registry-gateway-tls', ['certs/server.crt', 'certs/server.key'], true],
    ['registry-gateway-users', ['users/htpasswd'], true],
    ['registry-http-secret', ['secret=registry/http-secret'], false],
  ]);
  assert.equal(k.components, undefined);
  assert.match(k.patches[0].patch, /terminationGracePeriodSeconds\n\s+value: 45/);
  const ns = parse(String(files.find((f) => f.path === 'namespace.yaml')!.content));
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('the directory, other choices: single and ServiceMonitor components, a longer grace, the registry selector, the default namespace', () => {
  const k = parse(kustomization(input({ single: true, serviceMonitor: true, shutdown: { delay: 10, grace: 600 } })));
  assert.deepEqual(k.components, ['components/single', 'components/servicemonitor']);
  assert.match(k.patches[0].patch, /value: 620/);
  const existing = input({ overlay: 'existing-registry', registrySelector: { app: 'docker-registry' }, namespace: 'default', secrets: input().secrets.slice(0, 3) });
  const files = renderDirectory(existing);
  // Always rendered, so its Pod Security labels are there; `default` holds other pods: warned and audited only.
  const defaultNs = parse(String(files.find((f) => f.path === 'namespace.yaml')!.content));
  assert.deepEqual(defaultNs.metadata.labels, { 'pod-security.kubernetes.io/warn': 'restricted', 'pod-security.kubernetes.io/audit': 'restricted' });
  assert.equal(parse(String(renderDirectory({ ...existing, overlay: 'with-registry' }).find((f) => f.path === 'namespace.yaml')!.content))
    .metadata.labels['pod-security.kubernetes.io/enforce'], undefined, 'not enforced on default, even with-registry');
  const ek = parse(kustomization(existing));
  assert.equal(ek.namespace, 'default');
  assert.deepEqual(ek.resources, ['namespace.yaml', 'overlays/existing-registry']);
  assert.deepEqual(parse(ek.patches[1].patch), [{ op: 'replace', path: '/spec/podSelector', value: { matchLabels: { app: 'docker-registry' } } }]);
  assert.ok(!ek.secretGenerator.some((g: { name: string }) => g.name === 'registry-http-secret'));
  refused(() => renderDirectory(input({ overlay: 'existing-registry' })), /needs --registry-selector/);
  const nsObj = parse(String(renderDirectory({ ...existing, namespace: 'infra' }).find((f) => f.path === 'namespace.yaml')!.content));
  assert.equal(nsObj.metadata.labels['pod-security.kubernetes.io/enforce'], undefined, 'a shared namespace is warned and audited, not enforced');
  assert.equal(nsObj.metadata.labels['pod-security.kubernetes.io/warn'], 'restricted');
});

test('the shipped base names this version\'s image', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const base = parse(shipped.find((f) => f.path === 'base/kustomization.yaml')!.content);
  assert.deepEqual(base.images, [{ name: 'registry-gateway', newTag: pkg.version }]);
});
