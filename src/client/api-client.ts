import { X509Certificate } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { TapgateError } from '../core/errors';

export interface GateClientOptions {
  /** the gate's API URL, e.g. https://localhost:3025 */
  server: string;
  /** CA the gate's TLS certificate chains to; '' means the system trust store */
  caPem: string;
  /** login (or MFA) certificate and key, for the calls that need an identity */
  certPem?: string;
  keyPem?: string;
}

export interface Requester {
  host: string;
  process?: string;
  command?: string;
}

export interface WhoAmI {
  name: string;
  kind: string;
  usage: string;
  roles: string[];
  kubeUsers: string[];
  kubeGroups: string[];
  clusters: string[];
  loginExpires: number | null;
  notAfter: number;
  mfaDevice?: string;
  mfaVerifiedAt?: number;
}

export interface MfaGrant {
  certPem: string;
  notAfter: number;
  ttlMs: number;
  cappedBy: 'requested' | 'interval' | 'login';
}

export interface LoginGrant {
  user: string;
  certPem: string;
  loginExpires: number;
}

/** Longest single long-poll; waits beyond it are several polls. */
const POLL_S = 30;

/**
 * The gate's API for clients (CLI, agent, tray): one keep-alive connection pool with the gate's
 * CA and, when given, the client certificate. Refusals come back as TapgateError carrying the
 * gate's code, status and message.
 */
export class GateClient {
  readonly server: string;
  private readonly agent: Agent;

  constructor(opts: GateClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.agent = new Agent({
      connect: {
        ...(opts.caPem ? { ca: opts.caPem } : {}),
        ...(opts.certPem && opts.keyPem ? { cert: opts.certPem, key: opts.keyPem } : {}),
      },
      keepAliveTimeout: 60_000,
      connections: 8,
    });
  }

  /**
   * Trust on first use: fetches the gate's CA without verifying, then checks that the gate's TLS
   * certificate really chains to it. The caller shows the fingerprint to the person.
   */
  static async fetchCa(server: string): Promise<{ caPem: string; fingerprint: string }> {
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    let caPem: string;
    try {
      caPem = (await send<{ tlsCaPem: string }>(insecure, 'GET', `${server.replace(/\/+$/, '')}/v1/ca`)).tlsCaPem;
    } finally {
      await insecure.close();
    }
    if (!caPem) return { caPem: '', fingerprint: '' };
    const check = new GateClient({ server, caPem });
    try {
      await check.health();
    } finally {
      await check.close();
    }
    return { caPem, fingerprint: caFingerprint(caPem) };
  }

  health(): Promise<{ ok: boolean }> {
    return this.call('GET', '/healthz');
  }

  whoami(): Promise<WhoAmI> {
    return this.call('GET', '/v1/whoami');
  }

  async clusters(): Promise<{ name: string }[]> {
    return (await this.clusterInfo()).clusters;
  }

  /** The clusters the caller may open and where the gate's kube listener is (older gates omit kubeUrl). */
  clusterInfo(): Promise<{ clusters: { name: string }[]; kubeUrl?: string }> {
    return this.call('GET', '/v1/clusters');
  }

  createLoginSession(r: { publicKeyPem: string; ttlMs?: number; requester?: Requester }): Promise<{ id: string; url: string; code: string; expiresAt: number }> {
    return this.call('POST', '/v1/login/sessions', { publicKey: r.publicKeyPem, ttl: r.ttlMs, requester: r.requester });
  }

  /** Waits until the person signs in on the login page (or the session ends). */
  async waitLoginSession(id: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<LoginGrant> {
    const s = await this.poll<{ status: string; user?: string; certPem?: string; loginExpires?: number; message?: string }>(`/v1/login/sessions/${id}`, opts, 'login');
    return { user: s.user!, certPem: s.certPem!, loginExpires: s.loginExpires! };
  }

  createMfaRequest(r: { clusters: string[]; ttlMs?: number; publicKeyPem: string; requester: Requester }): Promise<{ id: string; tapUrl: string; expiresAt: number; ttlMs: number; cappedBy: string }> {
    return this.call('POST', '/v1/mfa/requests', { clusters: r.clusters, ttl: r.ttlMs, publicKey: r.publicKeyPem, requester: r.requester });
  }

  /** Waits for the tap. Throws mfa_denied / mfa_expired / mfa_cancelled / mfa_refused / mfa_timeout. */
  async waitMfaRequest(id: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<MfaGrant> {
    const r = await this.poll<{ status: string; certPem?: string; notAfter?: number; ttlMs?: number; cappedBy?: MfaGrant['cappedBy']; message?: string }>(`/v1/mfa/requests/${id}`, opts, 'mfa');
    return { certPem: r.certPem!, notAfter: r.notAfter!, ttlMs: r.ttlMs!, cappedBy: r.cappedBy! };
  }

  cancelMfaRequest(id: string): Promise<{ status: string }> {
    return this.call('DELETE', `/v1/mfa/requests/${id}`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async poll<T extends { status: string; message?: string }>(path: string, opts: { signal?: AbortSignal; timeoutMs?: number }, what: 'login' | 'mfa'): Promise<T> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5 * 60_000);
    for (;;) {
      const wait = Math.max(0, Math.min(POLL_S, Math.ceil((deadline - Date.now()) / 1000)));
      const r = await this.call<T>('GET', `${path}?wait=${wait}`, undefined, opts.signal);
      if (r.status === 'approved') return r;
      if (r.status !== 'pending') {
        const text = what === 'login' ? loginEnded(r.status) : mfaEnded(r.status);
        throw new TapgateError(`${what}_${r.status}`, r.message ? `${text}: ${r.message}` : text, { status: 409 });
      }
      if (Date.now() >= deadline) {
        throw new TapgateError(`${what}_timeout`, what === 'login' ? 'nobody signed in on the login page in time; run "tapgate login" again' : 'nobody tapped in time', { status: 408 });
      }
    }
  }

  private call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return send<T>(this.agent, method, `${this.server}${path}`, body, signal);
  }
}

/** SHA-256 fingerprint of a CA certificate, as people compare them: "AB:CD:…". */
export function caFingerprint(caPem: string): string {
  return new X509Certificate(caPem).fingerprint256;
}

async function send<T>(dispatcher: Dispatcher, method: Dispatcher.HttpMethod, url: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method,
      dispatcher,
      signal,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw connectionError(e, url);
  }
  const text = await res.body.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    throw new TapgateError('gate_error', `the gate answered ${res.statusCode} with something that is not JSON; is ${new URL(url).origin} a Tapgate gate?`, { status: 502 });
  }
  if (res.statusCode >= 400) {
    const err = data as { code?: string; message?: string };
    throw new TapgateError(err.code ?? 'gate_error', err.message ?? `the gate answered ${res.statusCode}`, { status: res.statusCode });
  }
  return data as T;
}

function connectionError(e: unknown, url: string): unknown {
  if ((e as Error)?.name === 'AbortError') return e;
  const origin = new URL(url).origin;
  const cause = (e as { cause?: NodeJS.ErrnoException })?.cause ?? (e as NodeJS.ErrnoException);
  const code = cause?.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new TapgateError('gate_untrusted', `the TLS certificate of ${origin} is not signed by the gate CA this client trusts (${code}); run "tapgate login --server ${origin}" again, or pass --ca-file`, { status: 495 });
  }
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT/.test(code)) {
    return new TapgateError('gate_unreachable', `cannot reach the gate at ${origin} (${code}); check that it is running and the address is right`, { status: 503 });
  }
  return e;
}

function loginEnded(status: string): string {
  return status === 'expired' ? 'the login link expired before anyone signed in; run "tapgate login" again' : `the login was ${status}`;
}

function mfaEnded(status: string): string {
  if (status === 'denied') return 'the tap request was denied on the tap page';
  if (status === 'expired') return 'the tap request expired before anyone tapped';
  if (status === 'cancelled') return 'the tap request was cancelled';
  return `the tap request was ${status}`;
}
