import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Locks } from '../locks/locks';
import type { CertificateAuthority } from '../pki/ca';
import { publicKeyFingerprint } from '../pki/ca';
import type { Identity } from '../pki/identity';
import type { Db } from '../store/db';
import { audited } from './audited';
import type { Challenges } from './challenges';
import type { Requester } from './login-sessions';
import { clusterAllowed, mfaCertTtl, type TtlCap } from './policy';
import type { Role, RoleRepo } from './roles';
import type { StatusWaiters } from './status-waiters';
import { userIdentity } from './user-identity';
import type { UserRepo } from './users';
import type { RelyingParty } from './webauthn';

/** How long a tap prompt stays answerable. */
export const MFA_REQUEST_TTL_MS = 5 * 60_000;

export type MfaStatus = 'pending' | 'approved' | 'denied' | 'cancelled' | 'expired' | 'refused';

/** What the login certificate said about the user when the request was made. */
interface LoginIdentity {
  name: string;
  roles: string[];
  loginExpires: number;
}

export interface MfaRequest {
  id: string;
  userName: string;
  clusters: string[];
  requestedTtlMs: number;
  requester: Requester;
  status: MfaStatus;
  createdAt: number;
  expiresAt: number;
  loginExpires: number;
  roles: string[];
  certPem: string | null;
  notAfter: number | null;
  /** the lifetime the issued certificate got, after the caps */
  ttlMs: number | null;
  cappedBy: TtlCap | null;
  reason: string | null;
}

type Row = {
  id: string; user_name: string; clusters: string; ttl_ms: number; public_key: string; requester: string; login_expires: number; status: MfaStatus;
  cert_pem: string | null; reason: string | null; created_at: number; expires_at: number; decided_at: number | null; login_identity: string; capped_by: TtlCap | null; not_after: number | null; issued_ttl_ms: number | null;
};

export interface MfaDeps {
  db: Db;
  clock: Clock;
  audit: AuditLog;
  users: UserRepo;
  roles: RoleRepo;
  locks: Locks;
  challenges: Challenges;
  rp: RelyingParty;
  userCa: CertificateAuthority;
  waiters: StatusWaiters;
  /** the clusters the gate fronts (config.clusters) */
  clusterNames: () => string[];
}

/**
 * MFA requests: an agent holding a login certificate asks for an MFA certificate; the person taps
 * on the gate's tap page; the agent collects the certificate. Its lifetime is capped here, by
 * policy.mfaCertTtl, whatever the agent asked.
 */
export class MfaRequests {
  constructor(private readonly d: MfaDeps) {}

  async create(login: Identity, body: { clusters: string[]; ttlMs?: number; publicKeyPem: string; requester: Requester }): Promise<MfaRequest & { ttlMs: number; cappedBy: TtlCap }> {
    const trail = { actor: `user:${login.name}`, data: { clusters: body.clusters, requestedTtlMs: body.ttlMs ?? null, requester: body.requester } as Record<string, unknown> };
    return audited(this.d.audit, 'mfa.request', trail, async () => {
      if (login.usage !== 'login' || login.kind !== 'user' || login.loginExpires === undefined) {
        throw new TapgateError('not_login_cert', 'MFA requests need your login certificate; run "tapgate login".', { status: 403, auditReason: `${login.usage} certificate used for an MFA request` });
      }
      this.d.locks.assertUnlocked(login);
      if (!(await this.d.users.get(login.name))) {
        throw new TapgateError('unknown_user', `the user "${login.name}" no longer exists on this gate; ask your administrator`, { status: 403, auditReason: 'user removed since login' });
      }
      const roles = await this.d.roles.resolve(login.roles);
      const clusters = [...new Set(body.clusters)];
      this.assertClusters(clusters, roles);
      publicKeyFingerprint(body.publicKeyPem);
      const now = this.d.clock.now();
      if (login.loginExpires <= now) throw loginExpired();
      const id = randomUUID();
      const expiresAt = Math.min(now + MFA_REQUEST_TTL_MS, login.loginExpires);
      const requestedTtlMs = body.ttlMs ?? 0;
      const li: LoginIdentity = { name: login.name, roles: login.roles, loginExpires: login.loginExpires };
      await this.d.db.run(
        'INSERT INTO mfa_requests (id, user_name, clusters, ttl_ms, public_key, requester, login_expires, status, created_at, expires_at, login_identity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        [id, login.name, JSON.stringify(clusters), requestedTtlMs, body.publicKeyPem, JSON.stringify(body.requester), login.loginExpires, 'pending', now, expiresAt, JSON.stringify(li)],
      );
      trail.data.request = id;
      const preview = mfaCertTtl({ requestedMs: requestedTtlMs, roles, loginExpires: login.loginExpires, now });
      await this.d.audit.record({ event: 'mfa.request', outcome: 'ok', actor: trail.actor, data: { ...trail.data, ...preview } });
      const req = (await this.get(id))!;
      return { ...req, ttlMs: preview.ttlMs, cappedBy: preview.cappedBy };
    });
  }

  async get(id: string): Promise<MfaRequest | undefined> {
    const row = await this.d.db.get<Row>('SELECT * FROM mfa_requests WHERE id = $1', [id]);
    if (!row) return undefined;
    const r = fromRow(row);
    return r.status === 'pending' && r.expiresAt <= this.d.clock.now() ? { ...r, status: 'expired' } : r;
  }

  async require(id: string): Promise<MfaRequest> {
    const r = await this.get(id);
    if (!r) throw new TapgateError('mfa_unknown', 'This tap request is not known to the gate. Start again from your terminal or the tray app.', { status: 404, auditReason: 'unknown MFA request' });
    return r;
  }

  /** What the tap page shows: the request with the lifetime the certificate would get now. */
  async preview(id: string): Promise<MfaRequest & { ttlMs: number; cappedBy: TtlCap }> {
    const r = await this.require(id);
    const roles = await this.d.roles.resolve(r.roles).catch(() => [] as Role[]);
    const cap = mfaCertTtl({ requestedMs: r.requestedTtlMs, roles, loginExpires: r.loginExpires, now: this.d.clock.now() });
    return { ...r, ...cap };
  }

  /** Long-poll by the agent that made the request (same user). */
  async wait(id: string, caller: Identity, waitMs: number, signal?: AbortSignal): Promise<MfaRequest> {
    this.assertOwner(await this.require(id), caller);
    const done = await this.d.waiters.until(id, waitMs, async () => {
      const r = await this.require(id);
      return r.status === 'pending' ? undefined : r;
    }, signal);
    return done ?? this.require(id);
  }

  async cancel(id: string, caller: Identity): Promise<MfaRequest> {
    const r = await this.require(id);
    this.assertOwner(r, caller);
    if (await this.decide(id, 'cancelled', 'cancelled by the requester')) {
      await this.d.audit.record({ event: 'mfa.cancelled', outcome: 'ok', actor: `user:${caller.name}`, data: { request: id } });
    }
    return this.require(id);
  }

  /** "Deny" on the tap page: the person did not start this. */
  async deny(id: string): Promise<MfaRequest> {
    const r = await this.require(id);
    if (await this.decide(id, 'denied', 'denied on the tap page')) {
      await this.d.audit.record({ event: 'mfa.tap', outcome: 'refused', actor: `user:${r.userName}`, reason: 'denied by the user', data: { request: id, clusters: r.clusters } });
    }
    return this.require(id);
  }

  async begin(id: string): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
    return audited(this.d.audit, 'mfa.tap', { actor: 'anonymous', data: { request: id } }, async (trail) => {
      const r = await this.require(id);
      trail.actor = `user:${r.userName}`;
      assertPending(r);
      const creds = await this.d.users.credentials(r.userName);
      if (creds.length === 0) throw new TapgateError('no_keys', `No security key is registered for ${r.userName}. Ask your administrator for an enrolment link.`, { status: 403, auditReason: 'user has no keys' });
      const c = await this.d.challenges.issue('tap', id, r.userName);
      // A tap proves presence of a key already tied to a UV login; UV is asked for, not demanded.
      const options = await this.d.rp.authenticationOptions({ challenge: c.challenge, allow: creds, userVerification: 'preferred' });
      return { challengeId: c.id, options };
    });
  }

  async finish(id: string, body: { challengeId: string; response: unknown }): Promise<{ notAfter: number; ttlMs: number; cappedBy: TtlCap }> {
    return audited(this.d.audit, 'mfa.tap', { actor: 'anonymous', data: { request: id } }, async (trail) => {
      // The challenge first: a replayed response is named as a replay even after the request is done.
      const c = await this.d.challenges.consume(body.challengeId, 'tap', id);
      const r = await this.require(id);
      trail.actor = `user:${r.userName}`;
      trail.data.clusters = r.clusters;
      assertPending(r);
      const response = this.d.rp.parseAuthentication(body.response);
      trail.data.credentialId = response.id;
      const cred = await this.d.users.credential(response.id);
      if (!cred || cred.userName !== r.userName) {
        throw new TapgateError('unknown_credential', `This security key is not registered to ${r.userName}. Tap one of your own keys.`, { status: 401, auditReason: cred ? `credential of ${cred.userName}` : 'unknown credential' });
      }
      const { newCounter } = await this.d.rp.verifyAuthentication({ response, challenge: c.challenge, credential: cred, requireUserVerification: false });
      const now = this.d.clock.now();
      if (!(await this.d.users.advanceCounter(cred.id, cred.counter, newCounter, now))) {
        throw new TapgateError('challenge_replayed', 'This security key was used twice at the same moment. Tap again.', { status: 409, auditReason: 'concurrent use of sign counter' });
      }
      // The key is verified; a refusal from here on is final, so the waiting agent hears about it.
      return this.refuseOnError(id, async () => {
        const roles = await this.d.roles.resolve(r.roles);
        const identity = userIdentity({ usage: 'mfa', name: r.userName, roles, clusters: r.clusters, loginExpires: r.loginExpires, mfaDevice: cred.id, mfaVerifiedAt: now });
        this.d.locks.assertUnlocked(identity);
        this.assertClusters(r.clusters, roles);
        const cap = mfaCertTtl({ requestedMs: r.requestedTtlMs, roles, loginExpires: r.loginExpires, now });
        if (cap.ttlMs < 1000) throw loginExpired();
        const row = await this.d.db.get<{ public_key: string }>('SELECT public_key FROM mfa_requests WHERE id = $1', [id]);
        const issued = await this.d.userCa.issue({ publicKeyPem: row!.public_key, identity, ttlMs: cap.ttlMs });
        const ok = await this.d.db.run(
          "UPDATE mfa_requests SET status = 'approved', cert_pem = $1, not_after = $2, capped_by = $3, issued_ttl_ms = $4, decided_at = $5 WHERE id = $6 AND status = 'pending'",
          [issued.certPem, issued.notAfter, cap.cappedBy, cap.ttlMs, now, id],
        );
        if (ok.changes === 0) throw new TapgateError('mfa_done', 'This request was already answered.', { status: 409, auditReason: 'MFA request already decided' });
        await this.d.waiters.changed(id);
        await this.d.audit.record({
          event: 'mfa.tap',
          outcome: 'ok',
          actor: trail.actor,
          data: { ...trail.data, requestedTtlMs: r.requestedTtlMs, ttlMs: cap.ttlMs, cappedBy: cap.cappedBy, notAfter: issued.notAfter, serial: issued.serial, requester: r.requester },
        });
        return { notAfter: issued.notAfter, ttlMs: cap.ttlMs, cappedBy: cap.cappedBy };
      });
    });
  }

  /** Clusters must be fronted by this gate and allowed by one of the roles; the refusal lists what is. */
  private assertClusters(clusters: string[], roles: Role[]): void {
    if (clusters.length === 0) throw new TapgateError('no_clusters', 'Name at least one cluster to open.', { auditReason: 'no clusters requested' });
    const known = this.d.clusterNames();
    const allowed = known.filter((c) => clusterAllowed(roles, c));
    const bad = clusters.filter((c) => !allowed.includes(c));
    if (bad.length === 0) return;
    const list = allowed.length ? `clusters you may use: ${allowed.join(', ')}` : 'no clusters are open to your roles; ask your administrator';
    const unknown = bad.filter((c) => !known.includes(c));
    const what = unknown.length ? `unknown cluster${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')}` : `cluster${bad.length > 1 ? 's' : ''} ${bad.map((c) => `"${c}"`).join(', ')} not allowed by your roles`;
    throw new TapgateError('cluster_not_allowed', `${what}; ${list}`, { status: 403, auditReason: `${what}` });
  }

  private assertOwner(r: MfaRequest, caller: Identity): void {
    if (caller.kind !== 'user' || caller.name !== r.userName) {
      throw new TapgateError('mfa_unknown', 'This tap request is not known to the gate.', { status: 404, auditReason: `MFA request of ${r.userName} asked for by ${caller.name}` });
    }
  }

  private async decide(id: string, status: MfaStatus, reason: string): Promise<boolean> {
    const r = await this.d.db.run('UPDATE mfa_requests SET status = $1, reason = $2, decided_at = $3 WHERE id = $4 AND status = $5', [status, reason, this.d.clock.now(), id, 'pending']);
    if (r.changes > 0) await this.d.waiters.changed(id);
    return r.changes > 0;
  }

  private async refuseOnError<T>(id: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TapgateError && e.code !== 'mfa_done') {
        await this.decide(id, 'refused', e.message);
      }
      throw e;
    }
  }
}

function assertPending(r: MfaRequest): void {
  if (r.status === 'pending') return;
  if (r.status === 'expired') throw new TapgateError('mfa_expired', 'This tap request has expired. Run your command again to get a new one.', { status: 410, auditReason: 'MFA request expired' });
  throw new TapgateError('mfa_done', `This request was already ${r.status}.`, { status: 409, auditReason: `MFA request already ${r.status}` });
}

function loginExpired(): TapgateError {
  return new TapgateError('login_expired', 'Your login session has ended. Run "tapgate login" and tap again.', { status: 401, auditReason: 'login session ended' });
}

function fromRow(r: Row): MfaRequest {
  const li = JSON.parse(r.login_identity) as LoginIdentity;
  return {
    id: r.id,
    userName: r.user_name,
    clusters: JSON.parse(r.clusters) as string[],
    requestedTtlMs: Number(r.ttl_ms),
    requester: JSON.parse(r.requester) as Requester,
    status: r.status,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    loginExpires: Number(r.login_expires),
    roles: li.roles,
    certPem: r.cert_pem,
    notAfter: r.not_after === null ? null : Number(r.not_after),
    ttlMs: r.issued_ttl_ms === null ? null : Number(r.issued_ttl_ms),
    cappedBy: r.capped_by,
    reason: r.reason,
  };
}
