import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clusterAllowed, disconnectExpiredCert, kubeIdentity, loginTtl, mfaCertTtl, mfaInterval, type TtlCap } from './policy';
import { roleSpecSchema, type Role } from './roles';

const m = 60_000;
const h = 60 * m;
const role = (name: string, spec: Record<string, unknown> = {}): Role => ({ name, spec: roleSpecSchema.parse(spec) });

const access = role('access');
const strict = role('strict', { mfa_verification_interval: '5m', max_session_ttl: '1h', kube_clusters: ['dev'] });
const ops = role('ops', { mfa_verification_interval: '30m', max_session_ttl: '8h', kubernetes_groups: ['ops'], disconnect_expired_cert: true });
const auditor = role('auditor', { kube_clusters: ['prod', 'dev'], kubernetes_users: ['viewer'], kubernetes_groups: ['view'] });

describe('mfaCertTtl: min(requested, every role interval, login time left)', () => {
  const now = Date.UTC(2026, 0, 1);
  const cases: { name: string; roles: Role[]; requestedMs?: number; loginLeft: number; ttlMs: number; cappedBy: TtlCap }[] = [
    { name: 'no request: the interval', roles: [access], loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'less than the interval: as asked', roles: [access], requestedMs: 10 * m, loginLeft: 12 * h, ttlMs: 10 * m, cappedBy: 'requested' },
    { name: 'exactly the interval: the interval', roles: [access], requestedMs: 15 * m, loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'more than the interval: capped', roles: [access], requestedMs: 1 * h, loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'strictest of several roles wins', roles: [ops, access, strict], requestedMs: 1 * h, loginLeft: 12 * h, ttlMs: 5 * m, cappedBy: 'interval' },
    { name: 'role order does not matter', roles: [strict, ops], requestedMs: 1 * h, loginLeft: 12 * h, ttlMs: 5 * m, cappedBy: 'interval' },
    { name: 'a lax role does not loosen a strict one', roles: [ops, access], requestedMs: 1 * h, loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'only a lax role', roles: [ops], requestedMs: 1 * h, loginLeft: 12 * h, ttlMs: 30 * m, cappedBy: 'interval' },
    { name: 'login ends first', roles: [ops], requestedMs: 1 * h, loginLeft: 7 * m, ttlMs: 7 * m, cappedBy: 'login' },
    { name: 'login ends before a short request', roles: [access], requestedMs: 10 * m, loginLeft: 3 * m, ttlMs: 3 * m, cappedBy: 'login' },
    { name: 'login already over', roles: [access], requestedMs: 10 * m, loginLeft: -1 * m, ttlMs: 0, cappedBy: 'login' },
    { name: 'no roles: the default interval', roles: [], loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'zero request means the interval', roles: [access], requestedMs: 0, loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
    { name: 'negative request means the interval', roles: [access], requestedMs: -5, loginLeft: 12 * h, ttlMs: 15 * m, cappedBy: 'interval' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(mfaCertTtl({ requestedMs: c.requestedMs, roles: c.roles, loginExpires: now + c.loginLeft, now }), { ttlMs: c.ttlMs, cappedBy: c.cappedBy });
    });
  }
});

describe('loginTtl and mfaInterval', () => {
  const cases: { roles: Role[]; requestedMs?: number; login: number; interval: number }[] = [
    { roles: [access], login: 12 * h, interval: 15 * m },
    { roles: [access, ops], login: 8 * h, interval: 15 * m },
    { roles: [access, ops, strict], login: 1 * h, interval: 5 * m },
    { roles: [ops], requestedMs: 2 * h, login: 2 * h, interval: 30 * m },
    { roles: [strict], requestedMs: 2 * h, login: 1 * h, interval: 5 * m },
    { roles: [], login: 12 * h, interval: 15 * m },
  ];
  for (const c of cases) {
    it(`${c.roles.map((r) => r.name).join('+') || 'no roles'}${c.requestedMs ? ` asking ${c.requestedMs / h}h` : ''}`, () => {
      assert.equal(loginTtl(c.roles, c.requestedMs), c.login);
      assert.equal(mfaInterval(c.roles), c.interval);
    });
  }
});

describe('cluster access, kube identity, stream cut', () => {
  const clusters: [Role[], string, boolean][] = [
    [[access], 'prod', true],
    [[strict], 'dev', true],
    [[strict], 'prod', false],
    [[strict, auditor], 'prod', true],
    [[], 'dev', false],
  ];
  for (const [roles, cluster, allowed] of clusters) {
    it(`${roles.map((r) => r.name).join('+') || 'no roles'} ${allowed ? 'may' : 'may not'} open ${cluster}`, () => assert.equal(clusterAllowed(roles, cluster), allowed));
  }

  it('impersonates the user name unless a role names kube users; groups are merged', () => {
    assert.deepEqual(kubeIdentity([access, ops], 'alice'), { users: ['alice'], groups: ['ops', 'system:authenticated'] });
    assert.deepEqual(kubeIdentity([auditor, ops], 'bob'), { users: ['viewer'], groups: ['view', 'ops', 'system:authenticated'] });
  });

  it('cuts streams at MFA expiry when any role asks for it', () => {
    assert.equal(disconnectExpiredCert([access]), false);
    assert.equal(disconnectExpiredCert([access, ops]), true);
  });
});
