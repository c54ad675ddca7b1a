// `gateway deploy kubernetes` fitted to a real cluster, without one: each
// exposure (--expose nodeport, loadbalancer, cluster-ip, ingress-nginx,
// tlsroute) rendered by kubectl's kustomize, validated against the
// Kubernetes schemas (kubernetes-models; the Gateway API's TLSRoute by hand),
// its selectors and ports checked against the pods, its address wired into
// gateway.yaml's publicUrl and the printed node setup; the egress
// NetworkPolicy's rules against the pods they allow; existing Secrets,
// GitOps, the ServiceMonitor's release label, a PriorityClass and the
// recommended labels; the exposure's address added to the server
// certificate when ca.key is at hand, as `gateway certs add-host` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { exec, gateway as gatewayCli, ROOT } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

type Obj = Record<string, any>;
const work = await tempDir();
await mkdir(join(work, 'config'));
await copyFile(join(ROOT, 'config/gateway.yaml'), join(work, 'config/gateway.yaml'));
const cli = async (args: string[], input?: string) => {
  const r = await gatewayCli(args, { cwd: work, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.code, 0, `gateway ${args.join(' ')}: ${r.stderr}`);
  return r;
};
// What a kind or k3d user does: the fixed cluster IP and the Service name on the certificate.
await cli(['certs', 'init', '--host', '10.96.0.50', '--host', 'registry.example.test', '--host', 'registry-gateway.registry-gateway.svc.cluster.local']);
await cli(['users', 'add', 'alice', '--password-stdin', '--cost', '4'], 'alice-pw-long');
const caSha256 = createHash('sha256').update(await readFile(join(work, 'certs/ca.crt'), 'utf8')).digest('hex');

async function deploy(name: string, args: string[]): Promise<{ dir: string; docs: Obj[]; stdout: string; stderr: string }> {
  const dir = join(work, name);
  const r = await gatewayCli(['deploy', 'kubernetes', '--out', dir, ...args], { cwd: work });
  assert.equal(r.code, 0, r.stderr);
  const k = await exec('kubectl', ['kustomize', dir]);
  assert.equal(k.code, 0, `kubectl kustomize ${dir}: ${k.stderr}`);
  return { dir, docs: parseAllDocuments(k.stdout).map((d) => d.toJS() as Obj), stdout: r.stdout, stderr: r.stderr };
}

const MODELS: Record<string, new (o: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/Service': Service, 'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim, 'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget, 'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
};

/** The Gateway API's TLSRoute (v1alpha2) is not in kubernetes-models: its fields, checked by hand. */
function validateTlsRoute(o: Obj): void {
  assert.equal(o.apiVersion, 'gateway.networking.k8s.io/v1alpha2');
  assert.deepEqual(Object.keys(o.spec).sort(), ['hostnames', 'parentRefs', 'rules']);
  for (const p of o.spec.parentRefs) assert.deepEqual(Object.keys(p).filter((k) => !['name', 'namespace', 'sectionName'].includes(k)), []);
  for (const h of o.spec.hostnames) assert.match(h, /^[a-z0-9.-]+$/);
  for (const r of o.spec.rules) for (const b of r.backendRefs) assert.deepEqual(Object.keys(b).sort(), ['name', 'port']);
}

function validateAll(docs: Obj[]): void {
  for (const o of docs) {
    if (o.kind === 'TLSRoute') validateTlsRoute(o);
    // The Prometheus Operator's kinds (deploy-kubernetes.test.ts checks their fields): their API group here.
    else if (o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule') assert.equal(o.apiVersion, 'monitoring.coreos.com/v1');
    else {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`] ?? assert.fail(`no schema for ${o.apiVersion}/${o.kind}`);
      const plain = o.kind === 'Secret' ? { ...o, data: Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, String(v).replace(/\n/g, '')])) } : o;
      assert.doesNotThrow(() => new Model(plain).validate(), `${o.kind} ${o.metadata?.name}`);
    }
  }
}

const get = (docs: Obj[], kind: string, name: string): Obj =>
  docs.find((d) => d.kind === kind && d.metadata.name === name) ?? assert.fail(`no ${kind} ${name} rendered`);
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const picks = (docs: Obj[], selector: Record<string, string>) =>
  docs.filter((d) => d.kind === 'Deployment' && matches(selector, d.spec.template.metadata.labels)).map((d) => d.metadata.name as string);
const gatewayPod = (docs: Obj[]) => get(docs, 'Deployment', 'registry-gateway').spec.template.spec;
const configOf = (docs: Obj[]): Obj => {
  const volume = gatewayPod(docs).volumes.find((v: Obj) => v.name === 'config');
  return parse(get(docs, 'ConfigMap', volume.configMap.name).data['gateway.yaml']);
};
/** The Service port a backend reference names, and the container port it reaches. */
function containerPortOf(docs: Obj[], service: string, port: number | string): number {
  const s = get(docs, 'Service', service);
  const p = s.spec.ports.find((x: Obj) => x.port === port || x.name === port) ?? assert.fail(`Service ${service} has no port ${port}`);
  assert.deepEqual(picks(docs, s.spec.selector), ['registry-gateway'], `Service ${service} selects the gateway pods`);
  return gatewayPod(docs).containers[0].ports.find((c: Obj) => c.name === p.targetPort).containerPort;
}

const serverPair = async (dir = 'certs') => Promise.all(['server.crt', 'server.key'].map((f) => readFile(join(work, dir, f), 'utf8')));
/** The subjectAltName extension as openssl prints it. */
const sans = async (dir = 'certs') => {
  const r = await exec('openssl', ['x509', '-in', join(work, dir, 'server.crt'), '-noout', '-ext', 'subjectAltName']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};
const initialPair = await serverPair();
// 192.168.50.10 is not on the certificate (private: inside the CA's constraints): deploy adds it.
const nodeport = await deploy('nodeport', ['--expose', 'nodeport=192.168.50.10:31443']);
const loadbalancer = await deploy('loadbalancer', ['--expose', 'loadbalancer=registry.example.test']);
const clusterIp = await deploy('cluster-ip', ['--expose', 'cluster-ip=10.96.0.50']);
const ingress = await deploy('ingress', ['--expose', 'ingress-nginx=registry.example.test']);
const tlsroute = await deploy('tlsroute', ['--expose', 'tlsroute=registry.example.test', '--gateway-parent', 'gateway-system/public/tls']);
const none = await deploy('none', []);

test('every exposure renders and validates; the HTTPS port (never metrics) reaches the gateway container\'s 5443', () => {
  for (const v of [nodeport, loadbalancer, clusterIp, ingress, tlsroute, none]) validateAll(v.docs);
  const np = get(nodeport.docs, 'Service', 'registry-gateway-public');
  assert.equal(np.spec.type, 'NodePort');
  assert.deepEqual(np.spec.ports.map((p: Obj) => [p.nodePort, containerPortOf(nodeport.docs, 'registry-gateway-public', p.port)]), [[31443, 5443]]);
  const lb = get(loadbalancer.docs, 'Service', 'registry-gateway-public');
  assert.equal(lb.spec.type, 'LoadBalancer');
  assert.deepEqual(lb.spec.ports.map((p: Obj) => [p.port, containerPortOf(loadbalancer.docs, 'registry-gateway-public', p.port)]), [[443, 5443]]);
  const svc = get(clusterIp.docs, 'Service', 'registry-gateway');
  assert.equal(svc.spec.clusterIP, '10.96.0.50');
  assert.deepEqual(svc.spec.clusterIPs, ['10.96.0.50']);
  assert.equal(containerPortOf(clusterIp.docs, 'registry-gateway', 5443), 5443);
  const ing = get(ingress.docs, 'Ingress', 'registry-gateway');
  assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/ssl-passthrough'], 'true');
  assert.equal(ing.spec.rules[0].host, 'registry.example.test');
  const backend = ing.spec.rules[0].http.paths[0].backend.service;
  assert.equal(containerPortOf(ingress.docs, backend.name, backend.port.name), 5443);
  const route = get(tlsroute.docs, 'TLSRoute', 'registry-gateway');
  assert.deepEqual(route.spec.parentRefs, [{ namespace: 'gateway-system', name: 'public', sectionName: 'tls' }]);
  assert.deepEqual(route.spec.hostnames, ['registry.example.test']);
  assert.equal(route.metadata.namespace, 'registry-gateway');
  const ref = route.spec.rules[0].backendRefs[0];
  assert.equal(containerPortOf(tlsroute.docs, ref.name, ref.port), 5443);
  // Nothing outside the cluster reaches the metrics port.
  for (const v of [nodeport, loadbalancer]) assert.ok(!get(v.docs, 'Service', 'registry-gateway-public').spec.ports.some((p: Obj) => p.port === 9464));
  for (const v of [none, clusterIp]) assert.equal(get(v.docs, 'Service', 'registry-gateway').spec.type, 'ClusterIP');
});

test('the exposure\'s address is publicUrl, the address nodes pull from, and the printed setup command\'s', () => {
  const cases: [typeof none, string, string][] = [
    [nodeport, 'https://192.168.50.10:31443', '192.168.50.10:31443'], [loadbalancer, 'https://registry.example.test', 'registry.example.test:443'],
    [clusterIp, 'https://10.96.0.50:5443', '10.96.0.50:5443'], [ingress, 'https://registry.example.test', 'registry.example.test:443'],
    [tlsroute, 'https://registry.example.test', 'registry.example.test:443'],
  ];
  for (const [v, url, address] of cases) {
    assert.equal(configOf(v.docs).publicUrl, url);
    assert.match(v.stdout, new RegExp(`^nodes pull from ${address.replace(/\./g, '\\.')}: `, 'm'));
    const setup = v.stdout.split('\n').find((l) => l.includes('/trust/ca.crt')) ?? assert.fail(`no setup command: ${v.stdout}`);
    assert.ok(setup.includes(`https://${address.replace(/:443$/, '')}/trust/ca.crt`) || setup.includes(`https://${address}/trust/ca.crt`), setup);
    assert.ok(setup.includes(caSha256), 'pinned to the CA');
    assert.doesNotMatch(setup, /svc\.cluster\.local/);
  }
  // Named by the certificate (from the start, or added by deploy): no warning.
  for (const v of [clusterIp, nodeport, loadbalancer]) assert.doesNotMatch(v.stderr, /does not name/);
});

test('without an exposure: no node address is suggested, and the warning says why and what to choose', () => {
  assert.equal(configOf(none.docs).publicUrl, undefined);
  assert.doesNotMatch(none.stdout, /nodes pull from|\/trust\/ca\.crt/);
  assert.match(none.stderr, /no address the nodes can reach: registry-gateway\.registry-gateway\.svc\.cluster\.local resolves only in pods.*--expose nodeport=/);
});

test('--expose refusals name the problem and an example', async () => {
  const refuse = async (args: string[], pattern: RegExp) => {
    const r = await gatewayCli(['deploy', 'kubernetes', '--out', join(work, 'refused'), ...args], { cwd: work });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
  };
  await refuse(['--expose', 'hostport=1.2.3.4'], /unknown --expose 'hostport=1\.2\.3\.4': choose one of nodeport=/);
  await refuse(['--expose', 'nodeport=192.0.2.10:8443'], /port 8443 is outside the NodePort range 30000-32767/);
  await refuse(['--expose', 'cluster-ip=registry.example.test'], /cluster-ip takes an IP address and no port/);
  await refuse(['--expose', 'ingress-nginx=registry.example.test:8443'], /a DNS name without a port/);
  await refuse(['--expose', 'tlsroute=registry.example.test'], /needs --gateway-parent NAMESPACE\/GATEWAY/);
  await refuse(['--expose', 'loadbalancer'], /--expose loadbalancer needs its address/);
  await refuse(['--expose', 'loadbalancer=x.test', '--gateway-parent', 'a/b'], /--gateway-parent is for --expose tlsroute/);
  await refuse(['--gateway-parent', 'a/b'], /--gateway-parent is for --expose tlsroute=HOST/);
  await refuse(['--tls-secret', 'Not_A_Name'], /invalid --tls-secret 'Not_A_Name'/);
  await refuse(['--servicemonitor-release', 'kps'], /add --servicemonitor/);
});

test('egress: DNS anywhere on port 53; Redis and the registry pods on their ports; an existing registry by its labels, port and namespace', async () => {
  const egress = get(none.docs, 'NetworkPolicy', 'registry-gateway-egress');
  assert.deepEqual(egress.spec.policyTypes, ['Egress']);
  assert.deepEqual(picks(none.docs, egress.spec.podSelector.matchLabels), ['registry-gateway']);
  const [dns, redis, registry] = egress.spec.egress;
  assert.deepEqual(dns, { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] });
  const containerPort = (name: string) => get(none.docs, 'Deployment', name).spec.template.spec.containers[0].ports[0].containerPort;
  assert.deepEqual(picks(none.docs, redis.to[0].podSelector.matchLabels), ['registry-gateway-redis']);
  assert.equal(redis.ports[0].port, containerPort('registry-gateway-redis'));
  assert.equal(redis.ports[0].port, Number(new URL(configOf(none.docs).redis.url).port));
  assert.deepEqual(picks(none.docs, registry.to[0].podSelector.matchLabels), ['registry']);
  assert.equal(registry.ports[0].port, containerPort('registry'));
  const existing = await deploy('existing', ['--overlay', 'existing-registry', '--upstream', 'http://registry.infra.svc.cluster.local:5001',
    '--registry-selector', 'app=docker-registry']);
  validateAll(existing.docs);
  assert.deepEqual(get(existing.docs, 'NetworkPolicy', 'registry-gateway-egress').spec.egress[2], {
    to: [{ podSelector: { matchLabels: { app: 'docker-registry' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'infra' } } }],
    ports: [{ port: 5001, protocol: 'TCP' }],
  });
});

test('existing Secrets by name (cert-manager kubernetes.io/tls, External Secrets), GitOps with no secret data, release label, PriorityClass', async () => {
  const fitted = await deploy('fitted', ['--tls-secret', 'registry-tls', '--users-secret', 'registry-users', '--servicemonitor',
    '--servicemonitor-release', 'kube-prometheus-stack', '--priority-class', 'registry-critical', '--expose', 'cluster-ip=10.96.0.50']);
  validateAll(fitted.docs);
  const pod = gatewayPod(fitted.docs);
  const volume = (name: string) => pod.volumes.find((v: Obj) => v.name === name).secret.secretName;
  assert.deepEqual([volume('tls'), volume('users')], ['registry-tls', 'registry-users']);
  assert.deepEqual(configOf(fitted.docs).tls, { cert: '/etc/gateway/certs/tls.crt', key: '/etc/gateway/certs/tls.key' }, 'cert-manager\'s key names');
  const secrets = fitted.docs.filter((d) => d.kind === 'Secret').map((d) => d.metadata.name);
  assert.ok(!secrets.some((n) => /registry-gateway-(tls|users)/.test(n)), `no generated TLS or users Secret: ${secrets}`);
  assert.equal(pod.priorityClassName, 'registry-critical');
  assert.equal(get(fitted.docs, 'ServiceMonitor', 'registry-gateway').metadata.labels.release, 'kube-prometheus-stack');

  const gitops = await deploy('gitops', ['--gitops', '--expose', 'cluster-ip=10.96.0.50']);
  validateAll(gitops.docs);
  assert.deepEqual(gitops.docs.filter((d) => d.kind === 'Secret'), [], 'no Secret object');
  const written = await readdir(gitops.dir);
  for (const folder of ['certs', 'users', 'token', 'registry']) assert.ok(!written.includes(folder), `no ${folder}/ written`);
  assert.match(gitops.stdout, /no secret data written \(--gitops\): create registry-gateway-tls \(server\.crt, server\.key, ca\.crt\), registry-gateway-users \(htpasswd\), registry-http-secret \(secret\)/);
  // What the Deployments reference is what it says to create.
  const referenced = new Set([...gatewayPod(gitops.docs).volumes.filter((v: Obj) => v.secret && !v.secret.optional).map((v: Obj) => v.secret.secretName),
    get(gitops.docs, 'Deployment', 'registry').spec.template.spec.containers[0].env.find((e: Obj) => e.valueFrom?.secretKeyRef).valueFrom.secretKeyRef.name]);
  assert.deepEqual([...referenced].sort(), ['registry-gateway-tls', 'registry-http-secret']);
});

test('recommended labels on every object and pod template, never in a selector; the namespace and its Pod Security labels always', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const inDefault = await deploy('default-ns', ['--namespace', 'default']);
  for (const v of [none, inDefault]) {
    for (const d of v.docs) {
      assert.equal(d.metadata.labels?.['app.kubernetes.io/managed-by'], 'gateway-deploy-kubernetes', `${d.kind} ${d.metadata.name}`);
      assert.equal(d.metadata.labels['app.kubernetes.io/version'], pkg.version);
      assert.equal(d.metadata.labels['app.kubernetes.io/instance'], d.kind === 'Namespace' ? d.metadata.name : d.metadata.namespace);
      if (d.kind === 'Deployment') {
        assert.equal(d.spec.template.metadata.labels['app.kubernetes.io/version'], pkg.version);
        assert.equal(d.spec.selector.matchLabels['app.kubernetes.io/version'], undefined, 'selectors are immutable: no version in them');
      }
      if (d.kind === 'Service') assert.equal(d.spec.selector['app.kubernetes.io/version'], undefined);
    }
  }
  const ns = get(inDefault.docs, 'Namespace', 'default');
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/warn'], 'restricted');
  assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], undefined, 'default holds other pods: not enforced');
  assert.equal(get(none.docs, 'Namespace', 'registry-gateway').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
});

test('the shipped components render on their own beside the base (examples in place of the patched values)', async () => {
  for (const c of ['nodeport', 'loadbalancer', 'cluster-ip', 'ingress-nginx', 'tlsroute']) {
    const dir = await tempDir('gw-k8s-components-');
    await writeFile(join(dir, 'kustomization.yaml'), 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n' +
      `resources:\n  - ${relative(dir, join(ROOT, 'deploy/kubernetes/base'))}\n` +
      `components:\n  - ${relative(dir, join(ROOT, 'deploy/kubernetes/components', `expose-${c}`))}\n`);
    const k = await exec('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', dir]);
    assert.equal(k.code, 0, `${c}: ${k.stderr}`);
    const docs = parseAllDocuments(k.stdout).map((d) => d.toJS() as Obj);
    validateAll(docs);
    assert.ok(docs.length > 5, c);
  }
});

/** The server certificate and key of the rendered Secret registry-gateway-tls. */
const tlsSecretPair = (docs: Obj[]) => {
  const data = get(docs, 'Secret', 'registry-gateway-tls').data;
  return ['server.crt', 'server.key'].map((k) => Buffer.from(data[k], 'base64').toString('utf8'));
};

test('--expose with ca.key beside the certificate: the address is added to server.crt (IP or DNS SAN), and the Secret holds it', async () => {
  assert.match(await sans(), /IP Address:192\.168\.50\.10\b/, 'the nodeport deploy added it');
  assert.match(nodeport.stdout, /^added 192\.168\.50\.10 to certs\/server\.crt, the --expose address \(as 'gateway certs add-host' does; same CA.*the Secret registry-gateway-tls holds the new certificate$/m);
  assert.notDeepEqual(tlsSecretPair(nodeport.docs), initialPair, 'a new pair');
  // Later deploys rendered the pair nodeport wrote; an address already named changes nothing.
  assert.deepEqual(tlsSecretPair(loadbalancer.docs), await serverPair());
  assert.doesNotMatch(loadbalancer.stdout, /^added /m);
  assert.equal((await stat(join(work, 'certs/server.key'))).mode & 0o777, 0o600);

  const named = await deploy('dns-name', ['--expose', 'ingress-nginx=registry.lan']);
  const now = await sans();
  assert.match(now, /DNS:registry\.lan\b/);
  for (const kept of ['IP Address:192.168.50.10', 'IP Address:10.96.0.50', 'DNS:registry.example.test']) assert.ok(now.includes(kept), now);
  assert.deepEqual(tlsSecretPair(named.docs), await serverPair());
  assert.equal(configOf(named.docs).publicUrl, 'https://registry.lan');
  const chain = await exec('openssl', ['verify', '-CAfile', join(work, 'certs/ca.crt'), join(work, 'certs/server.crt')]);
  assert.equal(chain.code, 0, `same CA: ${chain.stderr}`);

  // --gitops: no Secret data, the local pair is updated for the operator's own Secret.
  const gitops = await deploy('gitops-added', ['--gitops', '--expose', 'nodeport=192.168.70.10']);
  assert.match(await sans(), /IP Address:192\.168\.70\.10\b/);
  assert.match(gitops.stdout, /^added 192\.168\.70\.10 to certs\/server\.crt.*create the Secret registry-gateway-tls from the new certs\/server\.crt and certs\/server\.key$/m);
  assert.deepEqual(gitops.docs.filter((d) => d.kind === 'Secret'), []);
});

test('an --expose address outside the CA\'s name constraints: add-host\'s error, and nothing is written', async () => {
  const before = await serverPair();
  const out = join(work, 'outside');
  const r = await gatewayCli(['deploy', 'kubernetes', '--out', out, '--expose', 'nodeport=192.0.2.10:31443'], { cwd: work });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /192\.0\.2\.10 is outside the CA's name constraints \(.*\); clients would reject the certificate\. .*'gateway certs rollover start --dir certs --permit 192\.0\.2\.10'/);
  assert.deepEqual(await serverPair(), before, 'server.crt and server.key as they were');
  await assert.rejects(stat(out), /ENOENT/, 'no directory written');
  assert.deepEqual((await readdir(join(work, 'certs'))).filter((f) => f.endsWith('.tmp')), [], 'no temporary files left');
});

test('without ca.key, or with --tls-secret: the certificate is left alone and the warning gives the exact command', async () => {
  // A certificate directory without the CA key (the key kept offline).
  await mkdir(join(work, 'certs-noca'));
  for (const f of ['ca.crt', 'server.crt', 'server.key']) await copyFile(join(work, 'certs', f), join(work, 'certs-noca', f));
  const before = await serverPair('certs-noca');
  const noCa = await deploy('no-ca', ['--certs', 'certs-noca', '--expose', 'nodeport=192.168.60.10:31443']);
  assert.match(noCa.stderr, /does not name 192\.168\.60\.10, publicUrl's host.*add it with 'gateway certs add-host --dir certs-noca --host 192\.168\.60\.10'/);
  assert.deepEqual(await serverPair('certs-noca'), before);
  assert.deepEqual(tlsSecretPair(noCa.docs), before);
  assert.doesNotMatch(await sans('certs-noca'), /192\.168\.60\.10/);
  // --tls-secret: the deployed certificate is the Secret's (cert-manager's), not this one.
  const local = await serverPair();
  const secret = await deploy('tls-secret-unnamed', ['--tls-secret', 'registry-tls', '--expose', 'loadbalancer=other.lan']);
  assert.match(secret.stderr, /does not name other\.lan, publicUrl's host.*gateway certs add-host --dir certs --host other\.lan/);
  assert.deepEqual(await serverPair(), local);
  assert.doesNotMatch(secret.stdout, /^added /m);
});

/**
 * The content of a file in the gateway container, from the rendered object its
 * volume mounts, or why it is not there (a volume of an object not rendered here).
 */
function fileInPod(docs: Obj[], path: string): { content?: string; object: string } {
  const pod = gatewayPod(docs);
  const mount = pod.containers[0].volumeMounts.find((m: Obj) => path.startsWith(`${m.mountPath}/`)) ?? assert.fail(`nothing mounted at ${path}`);
  const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
  const [kind, name] = volume.secret ? ['Secret', volume.secret.secretName] : ['ConfigMap', volume.configMap.name];
  const object = docs.find((d) => d.kind === kind && d.metadata.name === name);
  const key = path.slice(mount.mountPath.length + 1);
  const content = kind === 'Secret' ? (object?.data?.[key] === undefined ? undefined : Buffer.from(object.data[key], 'base64').toString('utf8'))
    : object?.data?.[key];
  return { object: `${kind} ${name}`, ...(content === undefined ? {} : { content }) };
}

/** Every rendered Secret and ConfigMap is one a pod mounts or reads: nothing unused. */
function assertAllUsed(docs: Obj[]): void {
  const used = new Set<string>();
  for (const d of docs.filter((x) => x.kind === 'Deployment')) {
    const spec = d.spec.template.spec;
    for (const v of spec.volumes ?? []) {
      if (v.secret) used.add(`Secret ${v.secret.secretName}`);
      if (v.configMap) used.add(`ConfigMap ${v.configMap.name}`);
    }
    for (const c of spec.containers) {
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) used.add(`Secret ${e.valueFrom.secretKeyRef.name}`);
    }
  }
  for (const d of docs.filter((x) => x.kind === 'Secret' || x.kind === 'ConfigMap')) {
    assert.ok(used.has(`${d.kind} ${d.metadata.name}`), `${d.kind} ${d.metadata.name} is rendered but no pod uses it`);
  }
}

test('tls.clientCA reaches the pod from a ConfigMap of its own with --tls-secret or --gitops; no Secret holds it alone', async () => {
  await cli(['certs', 'init', '--dir', 'clients', '--host', 'clients.lan']);
  const clientsCa = await readFile(join(work, 'clients/ca.crt'), 'utf8');
  const localCa = await readFile(join(work, 'certs/ca.crt'), 'utf8');
  const base = await readFile(join(work, 'config/gateway.yaml'), 'utf8');
  const withClientCA = async (name: string, file: string) => {
    const path = join(work, 'config', `${name}.yaml`);
    await writeFile(path, base.replace('  # clientCA: certs/ca.crt ', `  clientCA: ${file} `));
    return relative(work, path);
  };
  const outside = await withClientCA('client-ca-outside', 'clients/ca.crt');
  const beside = await withClientCA('client-ca-beside', 'certs/ca.crt');
  const cases: { name: string; args: string[]; ca: string; object: string }[] = [
    { name: 'ca-tls-secret', args: ['--config', outside, '--tls-secret', 'registry-tls'], ca: clientsCa, object: 'ConfigMap registry-gateway-client-ca' },
    // The existing Secret's ca.crt is its issuer's, not necessarily the file the config names.
    { name: 'ca-tls-secret-beside', args: ['--config', beside, '--tls-secret', 'registry-tls'], ca: localCa,
      object: 'ConfigMap registry-gateway-client-ca' },
    { name: 'ca-gitops', args: ['--config', outside, '--gitops'], ca: clientsCa, object: 'ConfigMap registry-gateway-client-ca' },
    { name: 'ca-outside', args: ['--config', outside], ca: clientsCa, object: 'ConfigMap registry-gateway-client-ca' },
    { name: 'ca-beside', args: ['--config', beside], ca: localCa, object: 'Secret registry-gateway-tls' },
  ];
  for (const c of cases) {
    const v = await deploy(c.name, [...c.args, '--expose', 'cluster-ip=10.96.0.50']);
    validateAll(v.docs);
    assertAllUsed(v.docs);
    const path = configOf(v.docs).tls.clientCA as string;
    assert.deepEqual(fileInPod(v.docs, path), { object: c.object, content: c.ca }, `${c.name}: ${path}`);
    // The TLS Secret holds the server's files only, never the client CA alone.
    const tls = v.docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'registry-gateway-tls');
    if (c.args.includes('--tls-secret') || c.args.includes('--gitops')) assert.equal(tls, undefined, `${c.name}: no registry-gateway-tls rendered`);
    else assert.deepEqual(Object.keys(tls!.data).sort(), ['ca.crt', 'server.crt', 'server.key'], c.name);
  }
  // Without tls.clientCA: no client CA ConfigMap.
  assert.ok(!none.docs.some((d) => d.metadata.name === 'registry-gateway-client-ca'));
  assertAllUsed(none.docs);
});
