import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../../core/clock';
import { TapgateError } from '../../core/errors';
import { signHeartbeatProof, signRenewProof } from '../key-proof';
import { CA_FINGERPRINT_HEADER } from '../ca-fingerprint';
import type { BotCredentials, RenewedCredentials } from '../service';

export interface ClientCert {
  certPem: string;
  keyPem: string;
}

export interface JoinBody {
  token: string;
  publicKey: string;
  ttl?: number;
  previousCert?: string;
  proof?: string;
}

export interface HeartbeatBody {
  hostname: string;
  version: string;
  uptime: number;
  oneshot: boolean;
}

/** The gate's bot API as the agent sees it; tests wrap it to inject faults. */
export interface BotApi {
  join(body: JoinBody): Promise<BotCredentials>;
  /**
   * With the current certificate and its key: the client decides how to prove it holds them.
   * `caFingerprint` names the CA files the bot holds; the answer leaves them out if they are current.
   */
  renew(auth: ClientCert, body: { publicKey: string; ttl?: number }, held?: { caFingerprint?: string }): Promise<RenewedCredentials>;
  heartbeat(auth: ClientCert, body: HeartbeatBody): Promise<{ instanceId: string; generation: number }>;
}

/** A gate from before signed requests refuses the fields it does not know, or asks for the client certificate. */
function signedUnsupported(e: unknown): boolean {
  if (!(e instanceof TapgateError)) return false;
  return e.code === 'client_cert_required' || (e.code === 'bad_request' && /unknown field .*"(cert|proof|at)"/.test(e.message));
}

/**
 * HTTPS client for /v1/bots/*. Renewals and heartbeats prove the current certificate with a
 * signature in the body (key-proof.ts), over one kept-alive connection without a client
 * certificate that joins use too; against a gate that predates that, they fall back to mutual TLS
 * on a connection of their own (the client certificate changes at every renewal). close() when done.
 */
export class HttpBotApi implements BotApi {
  private pool?: { ca: string; agent: Agent };
  /** the gate refused a signed request as unknown: mutual TLS from now on */
  private mtlsOnly = false;
  private readonly clock: Clock;
  private signingKey?: { pem: string; key: KeyObject };

  constructor(
    private readonly server: string,
    /** CA of the gate's TLS certificate; '' = the system trust store */
    private readonly trust: () => string,
    opts: { clock?: Clock } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  join(body: JoinBody): Promise<BotCredentials> {
    return this.post('/v1/bots/join', body);
  }

  renew(auth: ClientCert, body: { publicKey: string; ttl?: number }, held: { caFingerprint?: string } = {}): Promise<RenewedCredentials> {
    // A header, not a body field: a gate that predates it ignores it and sends the CA files as before.
    const headers: Record<string, string> = held.caFingerprint ? { [CA_FINGERPRINT_HEADER]: held.caFingerprint } : {};
    return this.signedOrMtls('/v1/bots/renew', body, auth, (key, at) => signRenewProof(key, auth.certPem, body.publicKey, at), headers);
  }

  heartbeat(auth: ClientCert, body: HeartbeatBody): Promise<{ instanceId: string; generation: number }> {
    return this.signedOrMtls('/v1/bots/heartbeat', body, auth, (key, at) => signHeartbeatProof(key, auth.certPem, at));
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.agent.close().catch(() => undefined);
  }

  private async signedOrMtls<T>(path: string, body: object, auth: ClientCert, sign: (key: KeyObject, at: number) => string, headers: Record<string, string> = {}): Promise<T> {
    if (!this.mtlsOnly) {
      const at = this.clock.now();
      try {
        return await this.post<T>(path, { ...body, cert: auth.certPem, proof: sign(this.privateKey(auth.keyPem), at), at }, undefined, headers);
      } catch (e) {
        const unsupported = signedUnsupported(e);
        // proof_stale: this machine's clock is off, which mutual TLS does not mind (the gate's message says to fix it).
        if (!unsupported && !(e instanceof TapgateError && e.code === 'proof_stale')) throw e;
        if (unsupported) this.mtlsOnly = true;
      }
    }
    return this.post<T>(path, body, auth, headers);
  }

  /** Parsed once per key: a bot signs with the same key for a whole generation. */
  private privateKey(pem: string): KeyObject {
    if (this.signingKey?.pem !== pem) this.signingKey = { pem, key: createPrivateKey(pem) };
    return this.signingKey.key;
  }

  /** The kept-alive pool for requests without a client certificate; made again if the trusted CA changed. */
  private shared(ca: string): Agent {
    if (this.pool?.ca !== ca) {
      void this.pool?.agent.close().catch(() => undefined);
      // A bot makes one call at a time: one connection, kept alive between them.
      this.pool = { ca, agent: new Agent({ connect: ca ? { ca } : {}, connections: 1 }) };
    }
    return this.pool.agent;
  }

  private async post<T>(path: string, body: unknown, auth?: ClientCert, headers: Record<string, string> = {}): Promise<T> {
    const ca = this.trust();
    // A client certificate is bound to its connection: those get one of their own.
    const dispatcher = auth ? new Agent({ connect: { ...(ca ? { ca } : {}), cert: auth.certPem, key: auth.keyPem }, pipelining: 0 }) : this.shared(ca);
    const url = `${this.server.replace(/\/+$/, '')}${path}`;
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), headersTimeout: 30_000, bodyTimeout: 30_000 });
      } catch (e) {
        throw connectionError(e, url);
      }
      const text = await res.body.text().catch((e: unknown) => {
        throw connectionError(e, url);
      });
      let data: { code?: string; message?: string };
      try {
        data = text ? JSON.parse(text) : {};
      } catch {
        throw new TapgateError('gate_error', `the gate answered ${res.statusCode} with something that is not JSON; is ${new URL(url).origin} a Tapgate gate?`, { status: 502 });
      }
      if (res.statusCode >= 400) throw new TapgateError(data.code ?? 'gate_error', data.message ?? `the gate answered ${res.statusCode}`, { status: res.statusCode });
      return data as T;
    } finally {
      if (auth) void dispatcher.close().catch(() => undefined);
    }
  }
}

function connectionError(e: unknown, url: string): TapgateError {
  const origin = new URL(url).origin;
  const cause = (e as { cause?: NodeJS.ErrnoException })?.cause ?? (e as NodeJS.ErrnoException);
  const code = cause?.code ?? (e as NodeJS.ErrnoException)?.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new TapgateError('gate_untrusted', `the TLS certificate of ${origin} is not trusted (${code}); pass the gate's CA with --ca-file (the gate serves it at ${origin}/v1/ca)`, { status: 495 });
  }
  return new TapgateError('gate_unreachable', `cannot reach the gate at ${origin} (${code || (e as Error)?.message || e}); retrying`, { status: 503 });
}

/** Errors worth retrying: the gate is unreachable, busy or failing; anything else needs a person. */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof TapgateError)) return true;
  return e.status >= 500 || e.status === 408 || e.status === 429;
}
