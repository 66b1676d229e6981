import http2, { type ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Pool } from 'undici';
import type { MfaCredentials } from './mfa-session';

/** HTTP/2 flow-control windows: the 64 KiB default caps a stream at ~100 MB/s on loopback. */
export const H2_STREAM_WINDOW = 16 * 1024 * 1024;
export const H2_SESSION_WINDOW = 64 * 1024 * 1024;
/** nghttp2's per-session memory cap (MB); the default (10) is too small for 16 MiB windows. */
export const H2_MAX_SESSION_MEMORY = 256;

export interface GateTarget {
  /** the gate kube listener, e.g. https://gate.example.com:3026 (paths /k/<cluster>/... are added per request) */
  kubeUrl: string;
  /** the CA that signed the gate's TLS certificate; '' = the system trust store */
  caPem: string;
}

/**
 * Connections to the gate kube listener with the MFA certificate: a keep-alive HTTP/1.1 pool for
 * short requests (no body, not a watch: most of kubectl's traffic, and the cheapest path per
 * request, decision 0008), one warm HTTP/2 session for watches, logs and requests with bodies,
 * and a fresh HTTP/1.1 connection per upgrade (exec, attach, port-forward). A new certificate
 * gets a new session and pool; the old ones finish what they carry (watches and logs opened
 * before a lapse keep running) and close.
 */
export class GateUpstream {
  readonly origin: string;
  readonly authority: string;
  private readonly host: string;
  private readonly port: number;
  private readonly servername: string | undefined;
  private session: ClientHttp2Session | undefined;
  private sessionCreds: MfaCredentials | undefined;
  private readonly retired = new Set<ClientHttp2Session>();
  private pooled: Pool | undefined;
  private poolCreds: MfaCredentials | undefined;

  constructor(private readonly target: GateTarget) {
    const u = new URL(target.kubeUrl);
    this.origin = u.origin;
    this.authority = u.host;
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 443);
    this.servername = isIP(this.host) ? undefined : this.host;
  }

  /** The HTTP/2 session for these credentials, connecting (or replacing the old one) when needed. */
  h2(creds: MfaCredentials): ClientHttp2Session {
    const s = this.session;
    if (s && this.sessionCreds === creds && !s.closed && !s.destroyed) return s;
    if (s && !s.closed) this.retire(s);
    return this.connect(creds);
  }

  /** The HTTP/1.1 keep-alive pool for these credentials; the previous pool closes once its requests are done. */
  pool(creds: MfaCredentials): Pool {
    if (this.pooled && this.poolCreds === creds) return this.pooled;
    void this.pooled?.close().catch(() => undefined);
    this.poolCreds = creds;
    return (this.pooled = new Pool(this.origin, {
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      // the client (kubectl --request-timeout) and the gate decide how long an answer may take
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: {
        // one secure context for every connection of the pool, not a parse of key and chain each
        secureContext: tls.createSecureContext({ ca: this.target.caPem || undefined, cert: creds.certPem, key: creds.keyPem }),
        servername: this.servername,
        ALPNProtocols: ['http/1.1'],
      },
    }));
  }

  /** Opens the session ahead of the first request, so it does not pay for the handshake. */
  warm(creds: MfaCredentials): void {
    this.h2(creds);
  }

  /** An HTTP/1.1 request to the gate for an upgrade, with the MFA certificate; the caller handles 'upgrade'/'response'. */
  upgradeRequest(creds: MfaCredentials, method: string, path: string, rawHeaders: string[]): import('node:http').ClientRequest {
    const headers: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      if (rawHeaders[i]!.toLowerCase() === 'host') continue;
      headers.push(rawHeaders[i]!, rawHeaders[i + 1]!);
    }
    headers.push('Host', this.authority);
    const options: https.RequestOptions & { ALPNProtocols: string[] } = {
      host: this.host,
      port: this.port,
      servername: this.servername,
      method,
      path,
      headers: headers as unknown as Record<string, string>,
      ca: this.target.caPem || undefined,
      cert: creds.certPem,
      key: creds.keyPem,
      agent: false,
      ALPNProtocols: ['http/1.1'],
    };
    return https.request(options);
  }

  close(): void {
    void this.pooled?.destroy().catch(() => undefined);
    this.pooled = undefined;
    this.poolCreds = undefined;
    for (const s of [this.session, ...this.retired]) s?.destroy();
    this.retired.clear();
    this.session = undefined;
    this.sessionCreds = undefined;
  }

  private connect(creds: MfaCredentials): ClientHttp2Session {
    const s = http2.connect(this.origin, {
      createConnection: () => {
        const socket = tls.connect({
          host: this.host,
          port: this.port,
          servername: this.servername,
          ca: this.target.caPem || undefined,
          cert: creds.certPem,
          key: creds.keyPem,
          ALPNProtocols: ['h2'],
        });
        // Node's HTTP/2 client leaves Nagle on: a DATA frame written after its HEADERS would wait for the gate's delayed ACK
        socket.setNoDelay(true);
        return socket;
      },
      settings: { initialWindowSize: H2_STREAM_WINDOW, enablePush: false },
      maxSessionMemory: H2_MAX_SESSION_MEMORY,
    });
    s.once('connect', () => s.setLocalWindowSize(H2_SESSION_WINDOW));
    // Errors reach the streams on the session; the session itself is just dropped and reopened.
    s.on('error', () => {});
    s.once('goaway', () => this.drop(s));
    s.once('close', () => this.drop(s));
    this.session = s;
    this.sessionCreds = creds;
    return s;
  }

  private retire(s: ClientHttp2Session): void {
    this.retired.add(s);
    s.close();
  }

  private drop(s: ClientHttp2Session): void {
    this.retired.delete(s);
    if (this.session === s) {
      this.session = undefined;
      this.sessionCreds = undefined;
    }
  }
}
