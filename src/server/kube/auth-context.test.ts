import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roleSpecSchema, type Role } from '../../auth/roles';
import type { Lock } from '../../locks/match';
import type { Identity, VerifiedCert } from '../../pki/identity';
import { actorOf, buildAuthContext, checkCertificate, checkCluster } from './auth-context';

const T = Date.UTC(2026, 0, 1);
const MIN = 60_000;
const role = (name: string, spec: Record<string, unknown>): Role => ({ name, spec: roleSpecSchema.parse(spec) });
const ROLES = new Map<string, Role>([
  ['dev', role('dev', { kubernetes_users: ['alice-k8s'], kubernetes_groups: ['developers'], kube_clusters: ['dev', 'staging'] })],
  ['strict', role('strict', { kube_clusters: ['*'], disconnect_expired_cert: true })],
  ['deploy', role('deploy', { kubernetes_groups: ['deployers'], kube_clusters: ['prod'] })],
]);
const roles = {
  resolve: (names: readonly string[]) => ({
    roles: names.flatMap((n) => (ROLES.has(n) ? [ROLES.get(n)!] : [])),
    missing: names.filter((n) => !ROLES.has(n)),
  }),
};

function cert(over: Partial<Identity> = {}, window: { notBefore?: number; notAfter?: number } = {}): VerifiedCert {
  return {
    identity: { usage: 'mfa', kind: 'user', name: 'alice', roles: ['dev'], kubeUsers: [], kubeGroups: [], clusters: ['dev'], mfaDevice: 'key-1', loginExpires: T + 12 * 60 * MIN, ...over },
    serial: 'ab12',
    notBefore: window.notBefore ?? T - MIN,
    notAfter: window.notAfter ?? T + 15 * MIN,
    fingerprint: 'f',
    publicKeyFingerprint: 'p',
  };
}
const lock: Lock = { id: 'l1', targetKind: 'user', target: 'alice', message: 'incident 7', createdBy: 'admin', createdAt: T, expiresAt: null };

test('checkCertificate: usage, validity now, login session, locks, roles', () => {
  const cases: [string, VerifiedCert, number, Lock | undefined, string | undefined][] = [
    ['valid MFA certificate', cert(), T, undefined, undefined],
    ['at the last valid second', cert(), T + 15 * MIN, undefined, undefined],
    ['MFA certificate lapsed', cert(), T + 15 * MIN + 1, undefined, 'MFARequired'],
    ['login certificate', cert({ usage: 'login' }), T, undefined, 'MFARequired'],
    ['login session over', cert({ loginExpires: T - 1 }), T, undefined, 'MFARequired'],
    ['not yet valid (client clock)', cert({}, { notBefore: T + MIN }), T, undefined, 'Unauthorized'],
    ['local client certificate', cert({ usage: 'local-client', kind: 'local' }), T, undefined, 'Forbidden'],
    ['locked', cert(), T, lock, 'Forbidden'],
    ['bot certificate', cert({ usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'], clusters: ['prod'] }), T, undefined, undefined],
    ['bot certificate lapsed', cert({ usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'] }), T + 16 * MIN, undefined, 'Unauthorized'],
    ['every role deleted', cert({ roles: ['gone'] }), T, undefined, 'Forbidden'],
  ];
  for (const [name, c, now, l, want] of cases) {
    const r = checkCertificate(buildAuthContext(c, roles), now, l);
    assert.equal(r?.kubeReason, want, name);
  }
});

test('checkCertificate: the messages say what to do next', () => {
  const lapsed = checkCertificate(buildAuthContext(cert(), roles), T + 16 * MIN, undefined)!;
  assert.equal(lapsed.status, 401);
  assert.match(lapsed.message, /tap your security key/);
  const locked = checkCertificate(buildAuthContext(cert(), roles), T, lock)!;
  assert.equal(locked.status, 403);
  assert.match(locked.message, /incident 7/);
});

test('checkCluster: named in the certificate and allowed by a role', () => {
  const cases: [string, VerifiedCert, string, string | null][] = [
    ['allowed', cert({ clusters: ['dev', 'staging'] }), 'staging', null],
    ['not in the certificate', cert({ clusters: ['dev'] }), 'staging', 'not in certificate'],
    ['not allowed by roles', cert({ clusters: ['prod'] }), 'prod', 'not allowed by roles'],
    ['wildcard role', cert({ roles: ['strict'], clusters: ['prod'] }), 'prod', null],
  ];
  for (const [name, c, cluster, want] of cases) {
    const r = checkCluster(buildAuthContext(c, roles), cluster);
    if (want === null) assert.equal(r, null, name);
    else assert.ok(r?.auditReason.includes(want), `${name}: ${r?.auditReason}`);
  }
});

test('buildAuthContext: impersonation from the roles; bots get their own user name', () => {
  const user = buildAuthContext(cert(), roles);
  assert.deepEqual(user.as, { user: 'alice-k8s', groups: ['developers', 'system:authenticated'] });
  assert.equal(user.actor, 'user:alice');
  const bot = buildAuthContext(cert({ usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'], botInstance: 'i-1' }), roles);
  assert.deepEqual(bot.as, { user: 'bot-ci', groups: ['deployers', 'system:authenticated'] });
  assert.equal(bot.actor, 'bot:ci/i-1');
  assert.equal(actorOf({ ...bot.identity, botInstance: undefined }), 'bot:ci');
});

test('buildAuthContext: stream deadlines', () => {
  const login = buildAuthContext(cert(), roles);
  assert.equal(login.streamDeadline, T + 12 * 60 * MIN, 'streams outlive the MFA certificate until the login session ends');
  assert.equal(login.streamDeadlineReason, 'login_expired');
  const strict = buildAuthContext(cert({ roles: ['dev', 'strict'] }), roles);
  assert.equal(strict.streamDeadline, T + 15 * MIN, 'disconnect_expired_cert on any role cuts at the certificate expiry');
  assert.equal(strict.streamDeadlineReason, 'mfa_cert_expired');
  const bot = buildAuthContext(cert({ usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'] }), roles);
  assert.equal(bot.streamDeadline, Infinity);
});
