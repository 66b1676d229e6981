import { clusterAllowed, disconnectExpiredCert, kubeIdentity } from '../../auth/policy';
import type { Role } from '../../auth/roles';
import { lockedError } from '../../locks/locks';
import type { Lock } from '../../locks/match';
import type { Identity, VerifiedCert } from '../../pki/identity';
import type { KubeImpersonation } from './impersonation';
import type { RoleCache } from './role-cache';
import { KubeRefusal, MFA_REQUIRED } from './status';

/**
 * What one client certificate may do on the kube listener, computed once per certificate
 * (Teleport's authContext pattern) and used by the plain, watch and upgrade paths alike. Only
 * what changes with time (validity, locks) is checked per request, by `authorize`.
 */
export interface KubeAuthContext {
  readonly cert: VerifiedCert;
  readonly identity: Identity;
  /** "user:alice" or "bot:ci/<instance>", as the audit log writes it */
  readonly actor: string;
  readonly roles: readonly Role[];
  /** roles named in the certificate that no longer exist */
  readonly missingRoles: readonly string[];
  /** who the gate says the caller is, upstream */
  readonly as: KubeImpersonation;
  readonly disconnectExpiredCert: boolean;
  /** when streams opened with this certificate end unless a lock ends them sooner (epoch ms; Infinity: never) */
  readonly streamDeadline: number;
  readonly streamDeadlineReason: StreamEndReason;
  /** per cluster: null if allowed, else the refusal; filled on first use */
  readonly clusters: Map<string, KubeRefusal | null>;
}

export type StreamEndReason = 'mfa_cert_expired' | 'login_expired' | 'locked' | 'disconnected' | 'client_closed' | 'upstream_closed' | 'upstream_error' | 'listener_closed';

/** Refusals that a role created or changed in the last few seconds could turn around. */
export const ROLE_DEPENDENT = { rolesMissing: 'roles_missing', clusterNotAllowed: 'cluster_not_allowed' } as const;

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function actorOf(id: Identity): string {
  if (id.kind === 'bot') return id.botInstance ? `bot:${id.name}/${id.botInstance}` : `bot:${id.name}`;
  return `${id.kind}:${id.name}`;
}

export function buildAuthContext(cert: VerifiedCert, roleCache: Pick<RoleCache, 'resolve'>): KubeAuthContext {
  const id = cert.identity;
  const { roles, missing } = roleCache.resolve(id.roles);
  // Bots get their own Kubernetes user name by default so a bot never acts as a same-named person.
  const kube = kubeIdentity(roles, id.kind === 'bot' ? `bot-${id.name}` : id.name);
  const disconnect = disconnectExpiredCert(roles);
  let streamDeadline: number;
  let streamDeadlineReason: StreamEndReason;
  if (disconnect) {
    streamDeadline = cert.notAfter;
    streamDeadlineReason = 'mfa_cert_expired';
  } else if (id.kind === 'bot') {
    // A bot has no login session: its live streams end only on a lock (or its role asking for expiry cuts).
    streamDeadline = Infinity;
    streamDeadlineReason = 'login_expired';
  } else {
    streamDeadline = id.loginExpires ?? cert.notAfter;
    streamDeadlineReason = 'login_expired';
  }
  return {
    cert,
    identity: id,
    actor: actorOf(id),
    roles,
    missingRoles: missing,
    as: { user: kube.users[0]!, groups: kube.groups },
    disconnectExpiredCert: disconnect,
    streamDeadline,
    streamDeadlineReason,
    clusters: new Map(),
  };
}

function mfaRequired(message: string, auditReason: string): KubeRefusal {
  return new KubeRefusal(MFA_REQUIRED, message, { status: 401, auditReason, code: 'mfa_required' });
}

const TAP = 'tap your security key to continue (the Tapgate agent or tray app asks for it; `tapgate kube proxy` prints the link)';

/**
 * Pure: may this certificate be used right now? Covers usage, validity window, login session
 * and locks. Table-driven tests in auth-context.test.ts.
 */
export function checkCertificate(ctx: KubeAuthContext, now: number, lock: Lock | undefined): KubeRefusal | undefined {
  const { identity: id, cert } = ctx;
  if (id.usage === 'login') {
    return mfaRequired(
      `a login certificate cannot reach clusters; an MFA certificate is needed: ${TAP}`,
      'login certificate on the kube listener',
    );
  }
  if (id.usage !== 'mfa' && id.usage !== 'bot') {
    return new KubeRefusal('Forbidden', `a ${id.usage} certificate cannot be used on the kube listener; use the kubeconfig written by \`tapgate kube proxy\` or \`tapgate bot start\``, {
      status: 403,
      auditReason: `${id.usage} certificate on the kube listener`,
    });
  }
  if (now < cert.notBefore) {
    return new KubeRefusal('Unauthorized', `the certificate is not valid until ${iso(cert.notBefore)}; check that this machine's clock is right`, {
      status: 401,
      auditReason: `certificate ${cert.serial} not yet valid`,
    });
  }
  if (id.usage === 'bot') {
    if (now > cert.notAfter) {
      return new KubeRefusal('Unauthorized', `the bot certificate expired at ${iso(cert.notAfter)}; the bot must renew before expiry (is \`tapgate bot start\` running?)`, {
        status: 401,
        auditReason: `bot certificate ${cert.serial} expired`,
      });
    }
  } else {
    if (id.loginExpires !== undefined && now > id.loginExpires) {
      return mfaRequired(`your login session ended at ${iso(id.loginExpires)}; run \`tapgate login\`, then ${TAP}`, `login session of certificate ${cert.serial} ended`);
    }
    if (now > cert.notAfter) {
      return mfaRequired(`your MFA certificate expired at ${iso(cert.notAfter)}; ${TAP}`, `MFA certificate ${cert.serial} expired`);
    }
  }
  if (lock) return asRefusal(lockedError(lock));
  if (ctx.roles.length === 0) {
    return new KubeRefusal('Forbidden', `none of your roles (${id.roles.join(', ') || 'none'}) exist on this gate any more; ask an administrator to give you a role`, {
      status: 403,
      auditReason: `no existing roles (${id.roles.join(', ')})`,
      code: ROLE_DEPENDENT.rolesMissing,
    });
  }
  return undefined;
}

/** Pure: may this certificate reach `cluster`? It must be named in the certificate and allowed by the roles. */
export function checkCluster(ctx: KubeAuthContext, cluster: string): KubeRefusal | null {
  const cached = ctx.clusters.get(cluster);
  if (cached !== undefined) return cached;
  const { identity: id } = ctx;
  let refusal: KubeRefusal | null = null;
  if (!id.clusters.includes(cluster) && !id.clusters.includes('*')) {
    const what = id.kind === 'bot' ? 'the bot certificate' : 'your MFA certificate';
    const next =
      id.kind === 'bot'
        ? 'add the cluster to the bot\'s kube output and let it renew'
        : `open it with \`tapgate kube proxy ${cluster}\` (or add it to the agent's clusters) and tap again`;
    refusal = new KubeRefusal('Forbidden', `${what} does not cover cluster "${cluster}" (it covers ${id.clusters.join(', ') || 'none'}); ${next}`, {
      status: 403,
      auditReason: `cluster ${cluster} not in certificate`,
    });
  } else if (!clusterAllowed([...ctx.roles], cluster)) {
    refusal = new KubeRefusal('Forbidden', `your roles (${ctx.roles.map((r) => r.name).join(', ')}) do not allow cluster "${cluster}"; ask an administrator for a role that lists it in kube_clusters`, {
      status: 403,
      auditReason: `cluster ${cluster} not allowed by roles`,
      code: ROLE_DEPENDENT.clusterNotAllowed,
    });
  }
  ctx.clusters.set(cluster, refusal);
  return refusal;
}

function asRefusal(e: { message: string; status: number; auditReason: string; code: string }): KubeRefusal {
  return new KubeRefusal('Forbidden', e.message, { status: e.status, auditReason: e.auditReason, code: e.code });
}
