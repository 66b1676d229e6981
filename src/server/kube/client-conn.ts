import type { TLSSocket } from 'node:tls';
import { isTapgateError } from '../../core/errors';
import type { CertificateAuthority } from '../../pki/ca';
import type { VerifiedCert } from '../../pki/identity';
import { LruCache } from '../../pki/lru-cache';
import { buildAuthContext, type KubeAuthContext } from './auth-context';
import type { RoleCache } from './role-cache';
import { KubeRefusal } from './status';

/**
 * One TLS connection from a client: its certificate is read and verified once, when the
 * handshake completes, and every request on the connection reuses the result.
 */
export interface ClientConn {
  readonly id: number;
  readonly remote: string;
  readonly cert?: VerifiedCert;
  /** why the connection has no usable certificate */
  readonly certRefusal?: KubeRefusal;
  /** the authorization context, valid while `authGeneration` matches the Authorizer's */
  auth?: KubeAuthContext;
  authGeneration: number;
}

let nextId = 1;
/** Signature checks happen at connect time only; validity is a per-request question (see checkCertificate). */
const ANY_TIME = Number.MAX_SAFE_INTEGER;

export function openClientConn(socket: TLSSocket, cas: { user: CertificateAuthority; bot: CertificateAuthority }): ClientConn {
  const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  const base = { id: nextId++, remote, authGeneration: -1 };
  const raw = socket.getPeerCertificate(true)?.raw;
  if (!raw) {
    return {
      ...base,
      certRefusal: new KubeRefusal(
        'Unauthorized',
        'no client certificate was presented; point kubectl at the kubeconfig written by `tapgate kube proxy` (or `tapgate bot start`), not at the gate directly',
        { status: 401, auditReason: 'no client certificate' },
      ),
    };
  }
  let firstError: unknown;
  for (const ca of [cas.user, cas.bot]) {
    try {
      return { ...base, cert: ca.parseAndVerify(raw, { at: ANY_TIME, allowExpired: true }) };
    } catch (e) {
      firstError ??= e;
    }
  }
  const message = isTapgateError(firstError) ? firstError.message : 'the client certificate could not be verified';
  const auditReason = isTapgateError(firstError) ? firstError.auditReason : 'client certificate unverifiable';
  return { ...base, certRefusal: new KubeRefusal('Unauthorized', message, { status: 401, auditReason }) };
}

/** Authorization contexts by certificate fingerprint, dropped whenever the roles change. */
export class Authorizer {
  private readonly byFingerprint = new LruCache<string, KubeAuthContext>(10_000);
  private generation = 0;
  private readonly unsubscribe: () => void;

  constructor(private readonly roles: RoleCache) {
    this.unsubscribe = roles.onChange(() => {
      this.byFingerprint.clear();
      this.generation++;
    });
  }

  contextFor(conn: ClientConn): KubeAuthContext | undefined {
    if (!conn.cert) return undefined;
    if (conn.auth && conn.authGeneration === this.generation) return conn.auth;
    let ctx = this.byFingerprint.get(conn.cert.fingerprint);
    if (!ctx) {
      ctx = buildAuthContext(conn.cert, this.roles);
      this.byFingerprint.set(conn.cert.fingerprint, ctx);
    }
    conn.auth = ctx;
    conn.authGeneration = this.generation;
    return ctx;
  }

  stop(): void {
    this.unsubscribe();
  }
}
