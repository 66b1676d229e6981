import { Agent, request, type Dispatcher } from 'undici';
import { TapgateError } from '../../core/errors';
import type { BotCredentials } from '../service';

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
  renew(auth: ClientCert, body: { publicKey: string; ttl?: number }): Promise<BotCredentials>;
  heartbeat(auth: ClientCert, body: HeartbeatBody): Promise<{ instanceId: string; generation: number }>;
}

/**
 * HTTPS client for /v1/bots/*. Each call gets its own connection: the client certificate changes
 * at every renewal, and a bot calls a few times an hour.
 */
export class HttpBotApi implements BotApi {
  constructor(
    private readonly server: string,
    /** CA of the gate's TLS certificate; '' = the system trust store */
    private readonly trust: () => string,
  ) {}

  join(body: JoinBody): Promise<BotCredentials> {
    return this.post('/v1/bots/join', body);
  }

  renew(auth: ClientCert, body: { publicKey: string; ttl?: number }): Promise<BotCredentials> {
    return this.post('/v1/bots/renew', body, auth);
  }

  heartbeat(auth: ClientCert, body: HeartbeatBody): Promise<{ instanceId: string; generation: number }> {
    return this.post('/v1/bots/heartbeat', body, auth);
  }

  private async post<T>(path: string, body: unknown, auth?: ClientCert): Promise<T> {
    const ca = this.trust();
    const dispatcher = new Agent({
      connect: { ...(ca ? { ca } : {}), ...(auth ? { cert: auth.certPem, key: auth.keyPem } : {}) },
      pipelining: 0,
    });
    const url = `${this.server.replace(/\/+$/, '')}${path}`;
    try {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), headersTimeout: 30_000, bodyTimeout: 30_000 });
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
      void dispatcher.close().catch(() => undefined);
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
