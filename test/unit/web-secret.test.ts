// What the UI builds in the browser: the htpasswd-mode imagePullSecret (the
// password never leaves the page) and the messages for failed API calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { base64, dockerConfigJson, namespaceProblem, pullSecretYaml, secretNameProblem } from '../../src/web/lib/secret.js';
import { ApiError, apiError, loginErrorText, retryAfterSeconds, waitText } from '../../src/web/lib/errors.js';

test('base64 of UTF-8, as Buffer gives it', () => {
  for (const s of ['', 'a', 'alice:s3cret', 'pässwörd:☃', 'x'.repeat(1000)]) {
    assert.equal(base64(s), Buffer.from(s, 'utf8').toString('base64'));
  }
});

test('the Secret is a kubernetes.io/dockerconfigjson whose auths entry kubelet reads', () => {
  const yaml = pullSecretYaml({ registry: 'registry.test:5443', username: 'alice', password: 'pä ss', namespace: 'apps' });
  const secret = parse(yaml);
  assert.equal(secret.apiVersion, 'v1');
  assert.equal(secret.kind, 'Secret');
  assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
  assert.deepEqual(secret.metadata, { name: 'registry-gateway-pull', namespace: 'apps' });
  const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson'], 'base64').toString('utf8'));
  assert.deepEqual(config, {
    auths: { 'registry.test:5443': { username: 'alice', password: 'pä ss', auth: Buffer.from('alice:pä ss').toString('base64') } },
  });
  assert.deepEqual(Object.keys(JSON.parse(dockerConfigJson(['a:1', 'b:1', '[::1]:1'], 'u', 'p')).auths), ['a:1', 'b:1', '[::1]:1']);
  const every = parse(pullSecretYaml({ registry: 'a:1', registries: ['a:1', 'b:1'], username: 'u', password: 'p', namespace: 'default' }));
  assert.deepEqual(Object.keys(JSON.parse(Buffer.from(every.data['.dockerconfigjson'], 'base64').toString()).auths), ['a:1', 'b:1']);
  assert.equal(dockerConfigJson('h:1', 'u', 'p'), JSON.stringify({ auths: { 'h:1': { username: 'u', password: 'p', auth: 'dTpw' } } }));
  assert.equal(parse(pullSecretYaml({ registry: 'h', username: 'u', password: 'p', namespace: 'default', name: 'my.pull-1' })).metadata.name, 'my.pull-1');
});

test('names Kubernetes would refuse are refused first, saying what a valid one looks like', () => {
  assert.equal(namespaceProblem('default'), null);
  assert.match(namespaceProblem('')!, /empty: type one/);
  assert.match(namespaceProblem('Apps')!, /not a Kubernetes namespace: use at most 63 lower-case/);
  assert.match(namespaceProblem('a'.repeat(64))!, /at most 63/);
  assert.match(namespaceProblem('-a')!, /starting and ending/);
  assert.equal(secretNameProblem('a.b-c'), null);
  assert.match(secretNameProblem('a_b')!, /not a Secret name/);
  assert.throws(() => pullSecretYaml({ registry: 'h', username: 'u', password: 'p', namespace: 'x y' }), /not a Kubernetes namespace/);
  assert.throws(() => pullSecretYaml({ registry: 'h', username: 'u', password: '', namespace: 'default' }), /password is empty/);
});

test("an API error keeps the server's code and message, else says the status", () => {
  const e = apiError(403, { error: { code: 'ORIGIN', message: 'cross-origin request refused' } }, null);
  assert.ok(e instanceof ApiError);
  assert.deepEqual([e.status, e.code, e.message, e.retryAfter], [403, 'ORIGIN', 'cross-origin request refused', null]);
  const bare = apiError(502, null, null);
  assert.deepEqual([bare.code, bare.message], ['HTTP_502', 'The gateway answered 502.']);
});

test("429's wait comes from the body's retryAfter, else the Retry-After header", () => {
  assert.equal(retryAfterSeconds({ error: { code: 'TOO_MANY_REQUESTS', message: '' }, retryAfter: 41.2 }, '99'), 42);
  assert.equal(retryAfterSeconds({ error: { code: 'TOO_MANY_REQUESTS', message: '', retryAfter: 7 } }, null), 7);
  assert.equal(retryAfterSeconds(null, ' 30 '), 30);
  assert.equal(retryAfterSeconds(null, 'Wed, 21 Oct 2015 07:28:00 GMT'), null);
  assert.equal(waitText(1), '1 second');
  assert.equal(waitText(42), '42 seconds');
  assert.equal(waitText(600), '10 minutes');
});

test('the login form says wrong password, how long to wait, or why the gateway refused', () => {
  assert.equal(loginErrorText(new ApiError(401, 'UNAUTHORIZED', 'x')), 'Wrong username or password.');
  assert.equal(loginErrorText(new ApiError(429, 'TOO_MANY_REQUESTS', 'x', 42)), 'Too many failed logins. Try again in 42 seconds.');
  assert.equal(loginErrorText(new ApiError(429, 'TOO_MANY_REQUESTS', 'x')), 'Too many failed logins. Try again later.');
  assert.equal(loginErrorText(new ApiError(403, 'ORIGIN', 'cross-origin request refused')), 'The gateway refused the login: cross-origin request refused');
});
