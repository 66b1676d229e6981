import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { randomInt, randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Locks } from '../locks/locks';
import type { CertificateAuthority } from '../pki/ca';
import { publicKeyFingerprint } from '../pki/ca';
import type { Db } from '../store/db';
import { audited } from './audited';
import type { Challenges } from './challenges';
import { loginTtl } from './policy';
import type { RoleRepo } from './roles';
import type { StatusWaiters } from './status-waiters';
import { userIdentity } from './user-identity';
import type { UserRepo } from './users';
import type { RelyingParty } from './webauthn';

/** How long a `tapgate login` waits for the browser before the session is dropped. */
export const LOGIN_SESSION_TTL_MS = 5 * 60_000;

export type LoginStatus = 'pending' | 'approved' | 'refused' | 'expired';

export interface Requester {
  host?: string;
  process?: string;
  command?: string;
  /** the address the request came from, as the gate saw it */
  ip?: string;
}

export interface LoginSession {
  id: string;
  status: LoginStatus;
  /** shown both in the terminal and on the page, so the person can tell it is their login */
  code: string;
  requester: Requester;
  expiresAt: number;
  userName: string | null;
  certPem: string | null;
  loginExpires: number | null;
  reason: string | null;
  publicKeyPem: string;
  /** the lifetime the CLI asked for, if any */
  ttlMs: number | null;
}

type Row = {
  id: string; public_key: string; ttl_ms: number | null; requester: string; code: string; status: LoginStatus; user_name: string | null;
  cert_pem: string | null; login_expires: number | null; reason: string | null; created_at: number; expires_at: number;
};

export interface LoginDeps {
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
}

/**
 * Passwordless login: the CLI opens a session with its public key, the person signs in on the
 * gate's login page with a discoverable credential and user verification, and the CLI collects
 * a login certificate for its key. The private key never leaves the client.
 */
export class LoginSessions {
  constructor(private readonly d: LoginDeps) {}

  async create(opts: { publicKeyPem: string; ttlMs?: number; requester: Requester }): Promise<LoginSession> {
    publicKeyFingerprint(opts.publicKeyPem); // refuses keys the CA cannot certify, before anyone taps
    const now = this.d.clock.now();
    const id = randomUUID();
    const code = loginCode();
    const expiresAt = now + LOGIN_SESSION_TTL_MS;
    // Sessions are made by anyone who can reach the gate; old ones go so the table stays small.
    await this.d.db.run('DELETE FROM login_sessions WHERE expires_at < $1', [now - 24 * 3_600_000]);
    await this.d.db.run(
      'INSERT INTO login_sessions (id, public_key, ttl_ms, requester, code, status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [id, opts.publicKeyPem, opts.ttlMs ?? null, JSON.stringify(opts.requester), code, 'pending', now, expiresAt],
    );
    return (await this.get(id))!;
  }

  async get(id: string): Promise<LoginSession | undefined> {
    const row = await this.d.db.get<Row>('SELECT * FROM login_sessions WHERE id = $1', [id]);
    if (!row) return undefined;
    const s = fromRow(row);
    return s.status === 'pending' && s.expiresAt <= this.d.clock.now() ? { ...s, status: 'expired' } : s;
  }

  async require(id: string): Promise<LoginSession> {
    const s = await this.get(id);
    if (!s) throw new TapgateError('login_unknown', 'This login link is not known to the gate. Run "tapgate login" again.', { status: 404, auditReason: 'unknown login session' });
    return s;
  }

  /** Long-poll: the session once it is no longer pending, or as it is when `waitMs` runs out. */
  async wait(id: string, waitMs: number, signal?: AbortSignal): Promise<LoginSession> {
    const done = await this.d.waiters.until(id, waitMs, async () => {
      const s = await this.require(id);
      return s.status === 'pending' ? undefined : s;
    }, signal);
    return done ?? this.require(id);
  }

  async begin(id: string): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
    return audited(this.d.audit, 'login', { actor: 'anonymous', data: { session: id } }, async () => {
      const s = await this.require(id);
      assertPending(s);
      const c = await this.d.challenges.issue('login', id);
      // No allowCredentials: the key offers its discoverable credential and tells us who this is.
      const options = await this.d.rp.authenticationOptions({ challenge: c.challenge, userVerification: 'required' });
      return { challengeId: c.id, options };
    });
  }

  async finish(id: string, body: { challengeId: string; response: unknown }): Promise<{ userName: string; loginExpires: number }> {
    return audited(this.d.audit, 'login', { actor: 'anonymous', data: { session: id } }, async (trail) => {
      // The challenge first: a replayed response is named as a replay even after the session is done.
      const c = await this.d.challenges.consume(body.challengeId, 'login', id);
      const s = await this.require(id);
      assertPending(s);
      const response = this.d.rp.parseAuthentication(body.response);
      trail.data.credentialId = response.id;
      const cred = await this.d.users.credential(response.id);
      if (!cred) {
        throw new TapgateError('unknown_credential', 'This security key is not registered with the gate (it may have been removed). Use another key, or ask your administrator for an enrolment link.', {
          status: 401,
          auditReason: 'unknown credential',
        });
      }
      trail.actor = `user:${cred.userName}`;
      const user = await this.d.users.require(cred.userName);
      if (response.response.userHandle && response.response.userHandle !== user.webauthnId) {
        throw new TapgateError('unknown_credential', 'This security key answered for a different account. Use the key you enrolled with.', { status: 401, auditReason: 'user handle mismatch' });
      }
      const { newCounter } = await this.d.rp.verifyAuthentication({ response, challenge: c.challenge, credential: cred, requireUserVerification: true });
      const now = this.d.clock.now();
      if (!(await this.d.users.advanceCounter(cred.id, cred.counter, newCounter, now))) {
        throw new TapgateError('challenge_replayed', 'This security key was used twice at the same moment. Try again.', { status: 409, auditReason: 'concurrent use of sign counter' });
      }
      // The key is verified; from here a refusal is final for this session, so the CLI stops waiting.
      return this.refuseOnError(id, async () => {
        const roles = await this.d.roles.resolve(user.roles);
        // Whole seconds, as the certificate's notAfter will say, so every copy of it agrees.
        const loginExpires = Math.floor((now + loginTtl(roles, s.ttlMs ?? undefined)) / 1000) * 1000;
        const identity = userIdentity({ usage: 'login', name: user.name, roles, loginExpires, mfaDevice: cred.id });
        this.d.locks.assertUnlocked(identity);
        // The login certificate names no device; the lock check above did.
        delete identity.mfaDevice;
        const issued = await this.d.userCa.issue({ publicKeyPem: s.publicKeyPem, identity, ttlMs: loginExpires - now });
        const r = await this.d.db.run(
          "UPDATE login_sessions SET status = 'approved', user_name = $1, cert_pem = $2, login_expires = $3, decided_at = $4 WHERE id = $5 AND status = 'pending'",
          [user.name, issued.certPem, issued.notAfter, now, id],
        );
        if (r.changes === 0) throw new TapgateError('login_done', 'This login was already completed. Run "tapgate login" again if you need a new session.', { status: 409, auditReason: 'login session already decided' });
        await this.d.waiters.changed(id);
        await this.d.audit.record({ event: 'login', outcome: 'ok', actor: trail.actor, data: { ...trail.data, roles: identity.roles, loginExpires: issued.notAfter, serial: issued.serial, requester: s.requester } });
        return { userName: user.name, loginExpires: issued.notAfter };
      });
    });
  }

  private async refuseOnError<T>(id: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TapgateError && e.code !== 'login_done') {
        await this.d.db.run("UPDATE login_sessions SET status = 'refused', reason = $1, decided_at = $2 WHERE id = $3 AND status = 'pending'", [e.message, this.d.clock.now(), id]);
        await this.d.waiters.changed(id);
      }
      throw e;
    }
  }
}

function assertPending(s: LoginSession): void {
  if (s.status === 'expired') throw new TapgateError('login_expired', 'This login link has expired. Run "tapgate login" again.', { status: 410, auditReason: 'login session expired' });
  if (s.status !== 'pending') throw new TapgateError('login_done', 'This login was already completed. Run "tapgate login" again if you need a new session.', { status: 409, auditReason: 'login session already decided' });
}

/** Eight characters from an alphabet without look-alikes, as XXXX-XXXX. */
function loginCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let s = '';
  for (let i = 0; i < 8; i++) s += alphabet[randomInt(alphabet.length)];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

function fromRow(r: Row): LoginSession {
  return {
    id: r.id,
    status: r.status,
    code: r.code,
    requester: JSON.parse(r.requester) as Requester,
    expiresAt: Number(r.expires_at),
    userName: r.user_name,
    certPem: r.cert_pem,
    loginExpires: r.login_expires === null ? null : Number(r.login_expires),
    reason: r.reason,
    publicKeyPem: r.public_key,
    ttlMs: r.ttl_ms === null ? null : Number(r.ttl_ms),
  };
}
