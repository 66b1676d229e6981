import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Identity } from '../pki/identity';
import { matchLock, type Lock } from './match';

const alice: Identity = { usage: 'mfa', kind: 'user', name: 'alice', roles: ['dev'], kubeUsers: [], kubeGroups: [], clusters: ['prod'], mfaDevice: 'key-1' };
const bot: Identity = { usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'], kubeUsers: [], kubeGroups: [], clusters: [], botInstance: 'inst-1', joinToken: 'tok-1' };
const lock = (targetKind: Lock['targetKind'], target: string, expiresAt: number | null = null): Lock => ({ id: `${targetKind}:${target}`, targetKind, target, message: '', createdBy: 'admin', createdAt: 0, expiresAt });

test('matchLock: which locks cover which identities', () => {
  const cases: [Lock, Identity, boolean][] = [
    [lock('user', 'alice'), alice, true],
    [lock('user', 'bob'), alice, false],
    [lock('user', 'ci'), bot, false], // a user lock never covers a bot of the same name
    [lock('role', 'dev'), alice, true],
    [lock('role', 'deploy'), bot, true],
    [lock('mfa_device', 'key-1'), alice, true],
    [lock('mfa_device', 'key-2'), alice, false],
    [lock('bot', 'ci'), bot, true],
    [lock('bot', 'alice'), alice, false],
    [lock('bot_instance', 'inst-1'), bot, true],
    [lock('bot_instance', 'inst-2'), bot, false],
    [lock('token', 'tok-1'), bot, true],
    [lock('token', 'tok-1'), alice, false],
  ];
  for (const [l, id, want] of cases) assert.equal(Boolean(matchLock([l], id, 1000)), want, `${l.id} vs ${id.kind}:${id.name}`);
});

test('matchLock: an expired lock no longer applies; one without expiry always does', () => {
  assert.equal(matchLock([lock('user', 'alice', 1000)], alice, 999)?.id, 'user:alice');
  assert.equal(matchLock([lock('user', 'alice', 1000)], alice, 1000), undefined);
  assert.equal(matchLock([lock('user', 'alice', null)], alice, Number.MAX_SAFE_INTEGER)?.id, 'user:alice');
});
