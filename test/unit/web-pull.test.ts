// The pull commands the UI's copy buttons put on the clipboard: each client's
// syntax, by tag and by digest, and ctr's --user for the logged-in user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageReference, isDigest, pullCommand, pullCommands, shellQuote } from '../../src/web/lib/pull.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const byTag = { registry: 'registry.test:5443', name: 'team/app', ref: 'v1.2' };
const byDigest = { ...byTag, ref: digest };

test('a reference is HOST/NAME:TAG or HOST/NAME@DIGEST', () => {
  assert.equal(isDigest(digest), true);
  assert.equal(isDigest('latest'), false);
  assert.equal(isDigest('sha256'), false);
  assert.equal(imageReference(byTag), 'registry.test:5443/team/app:v1.2');
  assert.equal(imageReference(byDigest), `registry.test:5443/team/app@${digest}`);
});

test("each client's command, by tag", () => {
  assert.equal(pullCommand('docker', byTag), 'docker pull registry.test:5443/team/app:v1.2');
  assert.equal(pullCommand('podman', byTag), 'podman pull registry.test:5443/team/app:v1.2');
  assert.equal(pullCommand('ctr', byTag), 'ctr images pull --hosts-dir /etc/containerd/certs.d registry.test:5443/team/app:v1.2');
  assert.equal(pullCommand('skopeo', byTag), 'skopeo copy docker://registry.test:5443/team/app:v1.2 oci:team/app:v1.2');
});

test("each client's command, by digest (skopeo's OCI layout gets no ref name: an OCI ref can't be a digest)", () => {
  assert.equal(pullCommand('docker', byDigest), `docker pull registry.test:5443/team/app@${digest}`);
  assert.equal(pullCommand('ctr', byDigest), `ctr images pull --hosts-dir /etc/containerd/certs.d registry.test:5443/team/app@${digest}`);
  assert.equal(pullCommand('skopeo', byDigest), `skopeo copy docker://registry.test:5443/team/app@${digest} oci:team/app`);
});

test('ctr gets --user for a logged-in user, quoted for sh when it needs it', () => {
  assert.equal(pullCommand('ctr', byTag, 'alice'), 'ctr images pull --hosts-dir /etc/containerd/certs.d --user alice registry.test:5443/team/app:v1.2');
  assert.equal(pullCommand('ctr', byTag, "o'brien x"), `ctr images pull --hosts-dir /etc/containerd/certs.d --user 'o'\\''brien x' registry.test:5443/team/app:v1.2`);
  assert.equal(pullCommand('docker', byTag, 'alice'), 'docker pull registry.test:5443/team/app:v1.2');
  assert.equal(shellQuote('a.b@c-d'), 'a.b@c-d');
  assert.equal(shellQuote('$(rm -rf /)'), `'$(rm -rf /)'`);
});

test('the buttons: by tag then by digest for every client, named for the e2e tests; no tag, no by-tag buttons', () => {
  const all = pullCommands('h:1', 'n', 'latest', digest, null);
  assert.deepEqual(all.map((c) => c.label), [
    'Copy docker pull by tag', 'Copy podman pull by tag', 'Copy ctr images pull by tag', 'Copy skopeo copy by tag',
    'Copy docker pull by digest', 'Copy podman pull by digest', 'Copy ctr images pull by digest', 'Copy skopeo copy by digest',
  ]);
  assert.equal(all[0]!.command, 'docker pull h:1/n:latest');
  assert.equal(all[4]!.command, `docker pull h:1/n@${digest}`);
  const untagged = pullCommands('h:1', 'n', null, digest, null);
  assert.deepEqual(untagged.map((c) => c.by), ['digest', 'digest', 'digest', 'digest']);
});
