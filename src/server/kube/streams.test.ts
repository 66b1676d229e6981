import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../core/clock';
import type { Lock } from '../../locks/match';
import type { Identity } from '../../pki/identity';
import type { StreamEndReason } from './auth-context';
import { StreamRegistry, type StreamInfo } from './streams';

const alice: Identity = { usage: 'mfa', kind: 'user', name: 'alice', roles: ['dev'], kubeUsers: [], kubeGroups: [], clusters: ['dev'] };
const bob: Identity = { ...alice, name: 'bob' };

function info(id: Identity, deadline: number, reason: StreamEndReason = 'login_expired'): Omit<StreamInfo, 'id'> {
  return { actor: `user:${id.name}`, identity: id, cluster: 'dev', kind: 'watch', path: '/api/v1/pods', remote: '127.0.0.1:1', startedAt: 0, certNotAfter: 0, deadline, deadlineReason: reason };
}

function setup() {
  const clock = new ManualClock(1_000);
  let locks: Lock[] = [];
  const ended: [string, StreamEndReason, string | undefined][] = [];
  const registry = new StreamRegistry(clock, { match: (id) => locks.find((l) => l.targetKind === 'user' && l.target === id.name) }, {
    ended: (s, reason, detail) => ended.push([s.actor, reason, detail]),
  });
  const cuts: string[] = [];
  const open = (id: Identity, deadline: number, reason?: StreamEndReason) => registry.open(info(id, deadline, reason), (r) => cuts.push(`${id.name}:${r}`));
  return { clock, registry, ended, cuts, open, setLocks: (l: Lock[]) => (locks = l) };
}

test('a stream runs until its deadline, then the sweep cuts it with the deadline reason', () => {
  const { clock, registry, cuts, ended, open } = setup();
  open(alice, 2_000, 'mfa_cert_expired');
  open(bob, Infinity);
  clock.set(2_000);
  assert.equal(registry.sweep(), 0);
  clock.set(2_001);
  assert.equal(registry.sweep(), 1);
  assert.deepEqual(cuts, ['alice:mfa_cert_expired']);
  assert.deepEqual(ended.map((e) => e[1]), ['mfa_cert_expired']);
  assert.deepEqual(registry.list().map((s) => s.actor), ['user:bob']);
});

test('a lock cuts every stream it covers and only those', () => {
  const { registry, cuts, open, setLocks } = setup();
  open(alice, Infinity);
  open(alice, Infinity);
  open(bob, Infinity);
  setLocks([{ id: 'l', targetKind: 'user', target: 'alice', message: 'incident', createdBy: 'admin', createdAt: 0, expiresAt: null }]);
  assert.equal(registry.sweep(), 2);
  assert.deepEqual(cuts, ['alice:locked', 'alice:locked']);
  assert.equal(registry.size, 1);
});

test('a stream that ends by itself is reported once and never cut', () => {
  const { clock, registry, cuts, ended, open } = setup();
  const h = open(alice, 1_500);
  h.end('client_closed');
  h.end('upstream_closed');
  clock.set(5_000);
  assert.equal(registry.sweep(), 0);
  assert.deepEqual(cuts, []);
  assert.deepEqual(ended, [['user:alice', 'client_closed', undefined]]);
});

test('list filters by actor and cluster; disconnect cuts one stream', () => {
  const { registry, cuts, open } = setup();
  const a = open(alice, Infinity);
  open(bob, Infinity);
  assert.equal(registry.list({ actor: 'user:alice' }).length, 1);
  assert.equal(registry.list({ cluster: 'prod' }).length, 0);
  assert.equal(registry.disconnect(a.info.id), true);
  assert.equal(registry.disconnect(a.info.id), false);
  assert.deepEqual(cuts, ['alice:disconnected']);
});
