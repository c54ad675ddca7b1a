// The PrometheusRule `gateway deploy kubernetes --servicemonitor` renders:
// its rules pass Debian's promtool (`check rules`), and `promtool test rules`
// evaluates each alert over series the gateway would export, firing where it
// should and staying quiet where it should not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { exec, gateway as gatewayCli } from '../helpers/exec.js';
import { tempDir } from '../helpers/tmp.js';

type Obj = Record<string, any>;
const work = await tempDir();
const cli = async (args: string[], input?: string) => {
  const r = await gatewayCli(args, { cwd: work, ...(input !== undefined ? { input } : {}) });
  assert.equal(r.code, 0, `gateway ${args.join(' ')}: ${r.stderr}`);
};
await cli(['certs', 'init', '--host', 'registry-gateway.registry-gateway.svc.cluster.local']);
await cli(['users', 'add', 'alice', '--password-stdin', '--cost', '4'], 'alice-pw');
await cli(['deploy', 'kubernetes', '--out', 'out', '--servicemonitor']);
const rendered = await exec('kubectl', ['kustomize', join(work, 'out')]);
assert.equal(rendered.code, 0, rendered.stderr);
const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Obj);
const rule = docs.find((d) => d.kind === 'PrometheusRule') ?? assert.fail('no PrometheusRule rendered');
const rules = join(work, 'rules.yaml');
await writeFile(rules, JSON.stringify({ groups: rule.spec.groups }));

test('the rendered PrometheusRule: a monitoring.coreos.com/v1 object whose rules promtool accepts', async () => {
  assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(rule.metadata.namespace, 'registry-gateway');
  const r = await exec('promtool', ['check', 'rules', rules]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /SUCCESS: \d+ rules found/);
  const names = new Set(rule.spec.groups.flatMap((g: Obj) => g.rules.map((x: Obj) => x.alert)));
  for (const name of ['RegistryGatewayCertificateExpiresSoon', 'RegistryGatewayHigh5xxRatio', 'RegistryGatewayUpstreamDown',
    'RegistryGatewayThrottling', 'RegistryGatewayTLSHandshakeFailures', 'RegistryGatewayRedisFallback']) {
    assert.ok(names.has(name), name);
  }
});

const annotations = (alert: string, severity?: string): Obj => {
  const r = rule.spec.groups[0].rules.find((x: Obj) => x.alert === alert && (severity === undefined || x.labels.severity === severity));
  return r.annotations;
};
const fire = (alert: string, labels: Obj, summary: string, severity = 'warning') =>
  ({ exp_labels: { ...labels, severity }, exp_annotations: { ...annotations(alert, severity), summary } });

test('promtool test rules: each alert fires on the series that should fire it, and not on those that should not', async () => {
  const dir = join(work, 'promtool');
  await mkdir(dir);
  const day = 86_400;
  const tests = [{
    interval: '1m',
    input_series: [
      // Two replicas lose the upstream at minute 1; a third job keeps one replica up.
      { series: 'registry_gateway_upstream_up{job="gw",pod="a"}', values: '1 0x20' },
      { series: 'registry_gateway_upstream_up{job="gw",pod="b"}', values: '1 0x20' },
      { series: 'registry_gateway_upstream_up{job="half",pod="a"}', values: '0x20' },
      { series: 'registry_gateway_upstream_up{job="half",pod="b"}', values: '1x20' },
      // 10 days left on the server certificate, 2 on the CA, 100 on another job's.
      { series: 'registry_gateway_certificate_remaining_seconds{job="gw",certificate="server"}', values: `${10 * day}x200` },
      { series: 'registry_gateway_certificate_remaining_seconds{job="gw",certificate="ca"}', values: `${2 * day}x200` },
      { series: 'registry_gateway_certificate_remaining_seconds{job="ok",certificate="server"}', values: `${100 * day}x200` },
      // 9 good answers a second, and 1 of the gateway's own 503s: 10%. Probes do not count.
      { series: 'registry_gateway_requests_total{job="gw",code="200",source="upstream",action="pull"}', values: '0+540x30' },
      { series: 'registry_gateway_requests_total{job="gw",code="503",source="gateway",action="pull"}', values: '0+60x30' },
      { series: 'registry_gateway_requests_total{job="gw",code="503",source="gateway",action="health"}', values: '0+6000x30' },
      // Failed logins refused at 1/s; upstream shares never.
      { series: 'registry_gateway_throttled_requests_total{job="gw",limit="logins"}', values: '0+60x30' },
      { series: 'registry_gateway_throttled_requests_total{job="gw",limit="upstreamPerAddress"}', values: '0x30' },
      // Nodes without the CA at 1/s; scanners' other failures do not alert.
      { series: 'registry_gateway_tls_handshake_failures_total{job="gw",reason="unknown_ca"}', values: '0+60x30' },
      { series: 'registry_gateway_tls_handshake_failures_total{job="gw",reason="other"}', values: '0+600x30' },
      { series: 'registry_gateway_redis_fallback{job="gw",pod="a",reason="readonly"}', values: '1x30' },
      { series: 'registry_gateway_redis_fallback{job="gw",pod="a",reason="unreachable"}', values: '0x30' },
      { series: 'registry_gateway_reload_failures_total{job="gw",what="tls"}', values: '0 0 1x30' },
    ],
    alert_rule_test: [
      { eval_time: '2m', alertname: 'RegistryGatewayUpstreamDown', exp_alerts: [] },
      {
        eval_time: '5m', alertname: 'RegistryGatewayUpstreamDown',
        exp_alerts: [{ exp_labels: { job: 'gw', severity: 'critical' }, exp_annotations: annotations('RegistryGatewayUpstreamDown') }],
      },
      {
        eval_time: '2h', alertname: 'RegistryGatewayCertificateExpiresSoon',
        exp_alerts: [
          fire('RegistryGatewayCertificateExpiresSoon', { job: 'gw', certificate: 'ca' },
            "The gateway's ca certificate expires in 2d 0h 0m 0s", 'critical'),
          fire('RegistryGatewayCertificateExpiresSoon', { job: 'gw', certificate: 'ca' }, "The gateway's ca certificate expires in 2d 0h 0m 0s"),
          fire('RegistryGatewayCertificateExpiresSoon', { job: 'gw', certificate: 'server' },
            "The gateway's server certificate expires in 10d 0h 0m 0s"),
        ],
      },
      {
        eval_time: '20m', alertname: 'RegistryGatewayHigh5xxRatio',
        exp_alerts: [fire('RegistryGatewayHigh5xxRatio', { job: 'gw', source: 'gateway' }, '10% of requests answered 5xx by the gateway')],
      },
      {
        eval_time: '20m', alertname: 'RegistryGatewayThrottling',
        exp_alerts: [fire('RegistryGatewayThrottling', { job: 'gw', limit: 'logins' }, 'Requests refused by limits.logins: 1/s')],
      },
      {
        eval_time: '20m', alertname: 'RegistryGatewayTLSHandshakeFailures',
        exp_alerts: [fire('RegistryGatewayTLSHandshakeFailures', { job: 'gw', reason: 'unknown_ca' }, 'TLS handshakes failing with unknown_ca: 1/s')],
      },
      {
        eval_time: '20m', alertname: 'RegistryGatewayRedisFallback',
        exp_alerts: [fire('RegistryGatewayRedisFallback', { job: 'gw', reason: 'readonly' }, 'Failed-login limits are per replica: Redis readonly')],
      },
      {
        eval_time: '5m', alertname: 'RegistryGatewayReloadFailed',
        exp_alerts: [fire('RegistryGatewayReloadFailed', { job: 'gw', what: 'tls' }, 'The gateway could not reload its tls and keeps the previous one')],
      },
    ],
  }];
  await writeFile(join(dir, 'rules.yaml'), JSON.stringify({ groups: rule.spec.groups }));
  await writeFile(join(dir, 'test.yaml'), JSON.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
  const r = await exec('promtool', ['test', 'rules', join(dir, 'test.yaml')]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /SUCCESS/);
});

test('the control: a rule that should not fire does, and promtool test rules fails', async () => {
  const dir = join(work, 'control');
  await mkdir(dir);
  const tests = [{
    interval: '1m',
    input_series: [{ series: 'registry_gateway_upstream_up{job="gw",pod="a"}', values: '1x20' }],
    alert_rule_test: [{
      eval_time: '5m', alertname: 'RegistryGatewayUpstreamDown',
      exp_alerts: [{ exp_labels: { job: 'gw', severity: 'critical' }, exp_annotations: annotations('RegistryGatewayUpstreamDown') }],
    }],
  }];
  await writeFile(join(dir, 'rules.yaml'), JSON.stringify({ groups: rule.spec.groups }));
  await writeFile(join(dir, 'test.yaml'), JSON.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
  const r = await exec('promtool', ['test', 'rules', join(dir, 'test.yaml')]);
  assert.notEqual(r.code, 0, 'an upstream that is up fires no alert');
});
