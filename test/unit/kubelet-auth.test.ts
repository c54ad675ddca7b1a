// The tests' stand-in for the kubelet's credential lookup (test/helpers/cri.ts):
// which AuthConfig an imagePullSecret gives for an image, by the rules of
// kubernetes/pkg/credentialprovider (keys as schemeless URLs, host parts
// globbed, the port exact, the path a prefix, `auth` over username/password).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kubeletAuthConfigs } from '../helpers/cri.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (auths: Record<string, unknown>) =>
  `apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: ${b64(JSON.stringify({ auths }))}\n`;

test('an entry for HOST:PORT matches images there, by tag or digest, and no other port or host', () => {
  const s = secret({ '198.18.1.2:5443': { username: 'alice', password: 'pw', auth: b64('alice:pw') } });
  assert.deepEqual(kubeletAuthConfigs(s, '198.18.1.2:5443/alice/app:v1'), [{ username: 'alice', password: 'pw' }]);
  assert.deepEqual(kubeletAuthConfigs(s, `198.18.1.2:5443/alice/app@sha256:${'a'.repeat(64)}`), [{ username: 'alice', password: 'pw' }]);
  assert.deepEqual(kubeletAuthConfigs(s, '198.18.1.2:5444/alice/app:v1'), []);
  assert.deepEqual(kubeletAuthConfigs(s, '198.18.1.3:5443/alice/app:v1'), []);
});

test('auth wins over username and password; https:// and /v2/ in the key, globbed host parts and path prefixes', () => {
  assert.deepEqual(kubeletAuthConfigs(secret({ 'reg.test:5443': { username: 'x', password: 'y', auth: b64('alice:p:w') } }), 'reg.test:5443/a/b:1'),
    [{ username: 'alice', password: 'p:w' }]);
  assert.equal(kubeletAuthConfigs(secret({ 'https://reg.test:5443/v2/': { auth: b64('u:p') } }), 'reg.test:5443/a/b:1').length, 1);
  assert.equal(kubeletAuthConfigs(secret({ '*.test:5443': { auth: b64('u:p') } }), 'reg.test:5443/a/b:1').length, 1);
  assert.equal(kubeletAuthConfigs(secret({ '*.test:5443': { auth: b64('u:p') } }), 'a.reg.test:5443/a/b:1').length, 0, 'a glob is one part');
  assert.equal(kubeletAuthConfigs(secret({ 'reg.test:5443/team': { auth: b64('u:p') } }), 'reg.test:5443/team/app:1').length, 1);
  assert.equal(kubeletAuthConfigs(secret({ 'reg.test:5443/team': { auth: b64('u:p') } }), 'reg.test:5443/other/app:1').length, 0);
  assert.throws(() => kubeletAuthConfigs('kind: Secret\ntype: Opaque\n', 'reg.test:5443/a:1'), /not a dockerconfigjson Secret/);
});
