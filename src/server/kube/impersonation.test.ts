import assert from 'node:assert/strict';
import { test } from 'node:test';
import { impersonationHeaderIn, impersonationRefusal, upstreamHeaders } from './impersonation';

const as = { user: 'alice-k8s', groups: ['developers', 'system:authenticated'] };

test('impersonationHeaderIn finds every Impersonate-* header (names arrive lower-cased)', () => {
  for (const h of ['impersonate-user', 'impersonate-group', 'impersonate-uid', 'impersonate-extra-scopes', 'impersonate-extra-a%2Fb']) {
    assert.equal(impersonationHeaderIn({ accept: 'application/json', [h]: 'x' }), h);
  }
  assert.equal(impersonationHeaderIn({ accept: 'application/json', 'x-impersonate-user': 'x' }), undefined);
});

test('the refusal says what is allowed and what to do', () => {
  const r = impersonationRefusal('impersonate-user', as);
  assert.equal(r.status, 403);
  assert.equal(r.kubeReason, 'Forbidden');
  assert.match(r.message, /Impersonate-User/);
  assert.match(r.message, /alice-k8s/);
  assert.match(r.message, /drop --as/);
});

test('upstreamHeaders drops client identity, hop-by-hop and pseudo headers and sets the gate\'s', () => {
  const out = upstreamHeaders(
    {
      ':method': 'GET',
      ':path': '/k/dev/api',
      authorization: 'Bearer stolen',
      'proxy-authorization': 'Basic x',
      'impersonate-user': 'admin',
      'impersonate-group': 'system:masters',
      'x-remote-user': 'admin',
      'x-remote-group': 'system:masters',
      'x-remote-extra-scopes': 'all',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      host: 'gate:3026',
      accept: 'application/json',
      'user-agent': 'kubectl/v1.35',
      'content-type': 'application/json',
    },
    as,
    'Bearer gate-token',
  );
  assert.deepEqual(out, {
    accept: 'application/json',
    'user-agent': 'kubectl/v1.35',
    'content-type': 'application/json',
    authorization: 'Bearer gate-token',
    'impersonate-user': 'alice-k8s',
    'impersonate-group': ['developers', 'system:authenticated'],
  });
});

test('upstreamHeaders keeps Connection/Upgrade for upgrades and repeated headers as they came', () => {
  const out = upstreamHeaders(
    { connection: ['Upgrade'], upgrade: ['SPDY/3.1'], 'x-stream-protocol-version': ['v4.channel.k8s.io', 'v3.channel.k8s.io'], authorization: ['Bearer x'] },
    as,
    undefined,
    { upgrade: true },
  );
  assert.deepEqual(out, {
    connection: ['Upgrade'],
    upgrade: ['SPDY/3.1'],
    'x-stream-protocol-version': ['v4.channel.k8s.io', 'v3.channel.k8s.io'],
    'impersonate-user': 'alice-k8s',
    'impersonate-group': ['developers', 'system:authenticated'],
  });
});
