import type { Role } from './roles';

/** Pure policy math. Table-driven tests in policy.test.ts. */

export const DEFAULT_MFA_INTERVAL_MS = 15 * 60_000;
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;

/** Login certificate lifetime: the strictest max_session_ttl of the user's roles, or less if asked. */
export function loginTtl(roles: Role[], requestedMs?: number): number {
  const cap = roles.length ? Math.min(...roles.map((r) => r.spec.max_session_ttl)) : DEFAULT_SESSION_TTL_MS;
  return requestedMs && requestedMs > 0 ? Math.min(requestedMs, cap) : cap;
}

/** The strictest mfa_verification_interval across roles. */
export function mfaInterval(roles: Role[]): number {
  return roles.length ? Math.min(...roles.map((r) => r.spec.mfa_verification_interval)) : DEFAULT_MFA_INTERVAL_MS;
}

export type TtlCap = 'requested' | 'interval' | 'login';

/**
 * MFA certificate lifetime = min(requested, every role's interval, login time left).
 * The server applies this whatever the client asked.
 */
export function mfaCertTtl(opts: { requestedMs?: number; roles: Role[]; loginExpires: number; now: number }): { ttlMs: number; cappedBy: TtlCap } {
  const interval = mfaInterval(opts.roles);
  const loginLeft = Math.max(0, opts.loginExpires - opts.now);
  let ttlMs = interval;
  let cappedBy: TtlCap = 'interval';
  if (opts.requestedMs && opts.requestedMs > 0 && opts.requestedMs < ttlMs) {
    ttlMs = opts.requestedMs;
    cappedBy = 'requested';
  }
  if (loginLeft < ttlMs) {
    ttlMs = loginLeft;
    cappedBy = 'login';
  }
  return { ttlMs, cappedBy };
}

/** Streams are cut at the MFA certificate's expiry if any role asks for it. */
export function disconnectExpiredCert(roles: Role[]): boolean {
  return roles.some((r) => r.spec.disconnect_expired_cert);
}

export function clusterAllowed(roles: Role[], cluster: string): boolean {
  return roles.some((r) => r.spec.kube_clusters.some((c) => c === '*' || c === cluster));
}

/** Kubernetes identity to impersonate: role users (else the Tapgate name) and role groups plus system:authenticated. */
export function kubeIdentity(roles: Role[], name: string): { users: string[]; groups: string[] } {
  const users = [...new Set(roles.flatMap((r) => r.spec.kubernetes_users))];
  const groups = [...new Set([...roles.flatMap((r) => r.spec.kubernetes_groups), 'system:authenticated'])];
  return { users: users.length ? users : [name], groups };
}
