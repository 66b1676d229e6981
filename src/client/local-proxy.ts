import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { describeError } from '../core/errors';
import type { ConnectionTracker, TrackedConnection } from './connection-tracker';
import { type Downstream, H1Downstream, H2Downstream } from './downstream';
import { GateUpstream, H2_MAX_SESSION_MEMORY, H2_SESSION_WINDOW, H2_STREAM_WINDOW } from './gate-upstream';
import { contextName, EphemeralKubeconfig, localKubeconfig } from './kubeconfig';
import { tapgateHome } from './profile';
import { kubeStatusBody, MAX_REFUSAL_BYTES, statusReason, warningHeader } from './kube-status';
import { createLocalTls, type LocalTls } from './local-tls';
import { HoldError, type MfaCredentials, type MfaSession } from './mfa-session';
import { PooledCall, type PooledCallHooks } from './pooled-call';

const { NGHTTP2_FLAG_END_STREAM } = http2.constants;
const MFA_REQUIRED = 'MFARequired';
/** Request bodies up to this size are kept so they can be replayed after the gate asks for a tap. */
const DEFAULT_MAX_REPLAY_BYTES = 8 * 1024 * 1024;

/** Connection-level headers of HTTP/1.1 that must not travel on (and are illegal in HTTP/2). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'http2-settings']);

export interface LocalProxyOptions {
  clusters: string[];
  session: MfaSession;
  upstream: GateUpstream;
  tracker: ConnectionTracker;
  /** 0 (the default) picks a free port */
  port?: number;
  /** default ~/.tapgate/kube/proxy-<pid>.yaml */
  kubeconfigPath?: string;
  maxReplayBytes?: number;
  /** for tests: reuse TLS material instead of making a fresh local CA */
  tls?: LocalTls;
  /** told about the gate's 401/403 Status answers that reach the client (locks, refusals) */
  onGateRefusal?: (status: number, reason: string, message: string) => void;
}

/**
 * The local kube proxy: kubectl talks TLS to 127.0.0.1 with the client certificate from the
 * kubeconfig this writes; each request goes on to the gate with the MFA certificate, or is held
 * while a tap is asked for and sent once it arrives.
 */
export class LocalProxy {
  private readonly clusters: Set<string>;
  private readonly sockets = new Set<TLSSocket>();
  private readonly maxReplay: number;
  private kubeconfig!: EphemeralKubeconfig;
  private closed = false;

  private constructor(
    private readonly opts: LocalProxyOptions,
    private readonly server: tls.Server,
    readonly localTls: LocalTls,
  ) {
    this.clusters = new Set(opts.clusters);
    this.maxReplay = opts.maxReplayBytes ?? DEFAULT_MAX_REPLAY_BYTES;
  }

  static async start(opts: LocalProxyOptions): Promise<LocalProxy> {
    const local = opts.tls ?? (await createLocalTls(opts.clusters));
    const server = tls.createServer({
      key: local.serverKeyPem,
      cert: local.serverCertPem,
      ca: local.caPem,
      // checked per request, so a client without the certificate reads a Status, not a TLS alert
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'http/1.1'],
      noDelay: true,
    });
    const proxy = new LocalProxy(opts, server, local);
    proxy.wire();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      const path = opts.kubeconfigPath ?? join(tapgateHome(), 'kube', `proxy-${process.pid}.yaml`);
      proxy.kubeconfig = await EphemeralKubeconfig.write(
        path,
        localKubeconfig({ proxyUrl: proxy.url, clusters: opts.clusters, caPem: local.caPem, certPem: local.clientCertPem, keyPem: local.clientKeyPem }),
      );
    } catch (e) {
      server.close();
      throw e;
    }
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get kubeconfigPath(): string {
    return this.kubeconfig.path;
  }

  get contexts(): { name: string; context: string }[] {
    return [...this.clusters].map((name) => ({ name, context: contextName(name) }));
  }

  /** Stops listening, ends every connection and removes the kubeconfig. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await Promise.all([done, this.kubeconfig.remove()]);
  }

  private wire(): void {
    const h2 = http2.createServer({ settings: { initialWindowSize: H2_STREAM_WINDOW }, maxSessionMemory: H2_MAX_SESSION_MEMORY });
    h2.on('session', (s) => s.once('connect', () => s.setLocalWindowSize(H2_SESSION_WINDOW)));
    h2.on('session', (s) => s.on('error', () => {}));
    h2.on('stream', (stream, headers) => this.onStream(stream, headers));
    const h1 = http.createServer({ requestTimeout: 0 }, (req, res) => this.onRequest(req, res));
    h1.keepAliveTimeout = 120_000;
    h1.on('upgrade', (req: IncomingMessage, socket: TLSSocket, head: Buffer) => this.onUpgrade(req, socket, head));
    h1.on('clientError', (_e, socket) => socket.destroy());
    this.server.on('secureConnection', (socket: TLSSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      (socket.alpnProtocol === 'h2' ? h2 : h1).emit('connection', socket);
    });
    this.server.on('tlsClientError', () => {});
  }

  /** The cluster of a /k/<cluster>/... URL if this proxy serves it; else answers with a Status and returns undefined. */
  private route(url: string, authorized: boolean, refuse: (code: number, reason: string, message: string) => void): string | undefined {
    if (!authorized) {
      refuse(
        401,
        'Unauthorized',
        `this is the Tapgate local kube proxy; it only accepts the client certificate in the kubeconfig it wrote: export KUBECONFIG=${this.kubeconfig.path}`,
      );
      return undefined;
    }
    let end = 3;
    if (url.startsWith('/k/')) while (end < url.length && url.charCodeAt(end) !== 47 && url.charCodeAt(end) !== 63) end++;
    const cluster = url.slice(3, end);
    if (end === 3 || !this.clusters.has(cluster)) {
      refuse(
        404,
        'NotFound',
        `the Tapgate local proxy serves ${[...this.clusters].map((c) => `/k/${c}`).join(', ')}; ${cluster ? `cluster "${cluster}" is not one of them; start the proxy with it` : `${url} is not a cluster path`}`,
      );
      return undefined;
    }
    return cluster;
  }

  // ---- plain requests, HTTP/2 and HTTP/1.1 ----

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const url = headers[':path'] ?? '/';
    const socket = stream.session!.socket as TLSSocket;
    const d = new H2Downstream(this.opts.tracker, stream);
    const cluster = this.route(url, socket.authorized, (c, r, m) => d.fail(c, r, m));
    if (cluster === undefined) return;
    headers[':authority'] = this.opts.upstream.authority;
    d.streaming = isStreaming(url);
    const method = headers[':method'] ?? 'GET';
    d.start(this.opts.tracker.open(cluster, method, url.slice(3 + cluster.length), false, stream.session!, socket), cluster, headers, !stream.endAfterHeaders);
    this.dispatch(d);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const socket = req.socket as TLSSocket;
    const d = new H1Downstream(this.opts.tracker, req, res);
    const cluster = this.route(url, socket.authorized, (c, r, m) => d.fail(c, r, m));
    if (cluster === undefined) return;
    const headers: OutgoingHttpHeaders = { ':method': req.method, ':path': url, ':scheme': 'https', ':authority': this.opts.upstream.authority };
    for (const k in req.headers) if (!HOP_BY_HOP.has(k)) headers[k] = req.headers[k];
    const te = req.headers['transfer-encoding'];
    const len = req.headers['content-length'];
    const hasBody = te !== undefined || (len !== undefined && len !== '0');
    d.streaming = isStreaming(url);
    d.start(this.opts.tracker.open(cluster, req.method ?? 'GET', url.slice(3 + cluster.length), false, socket, socket), cluster, headers, hasBody);
    this.dispatch(d);
  }

  private dispatch(d: Downstream): void {
    const creds = this.opts.session.current(d.cluster);
    if (creds) this.send(d, creds);
    else this.hold(d);
  }

  private hold(d: Downstream): void {
    const abort = new AbortController();
    d.onGone = () => abort.abort();
    this.opts.session.acquire(d.conn, d.cluster, abort.signal).then(
      (creds) => {
        d.onGone = undefined;
        if (!d.gone) this.send(d, creds);
      },
      (e) => {
        d.onGone = undefined;
        if (e instanceof HoldError) d.fail(e.status, e.reason, e.message);
        else d.fail(500, 'InternalError', `Tapgate: ${describeError(e)}`);
      },
    );
  }

  private send(d: Downstream, creds: MfaCredentials): void {
    const replay = d.replayBody;
    if (!d.streaming && (replay ? replay.length === 0 : !d.hasBody)) {
      this.sendPooled(d, creds);
      return;
    }
    let up: ClientHttp2Stream;
    try {
      up = this.opts.upstream.h2(creds).request(d.headers, { endStream: replay ? replay.length === 0 : !d.hasBody });
    } catch (e) {
      d.fail(502, 'ServiceUnavailable', `Tapgate could not reach the gate at ${this.opts.upstream.origin}: ${describeError(e)}`);
      return;
    }
    d.up = up;
    d.upDone = false;
    if (replay) {
      if (replay.length) {
        for (const chunk of replay) up.write(chunk);
        up.end();
      }
    } else if (d.hasBody) {
      this.pumpBody(d);
    }
    up.on('response', (h, flags) => this.onResponse(d, creds, up, h, flags));
    up.on('error', (e) => {
      if (d.up === up) d.fail(502, 'ServiceUnavailable', `Tapgate lost the connection to the gate at ${this.opts.upstream.origin}: ${describeError(e)}`);
    });
  }

  /** A short request on the gate's HTTP/1.1 pool. */
  private sendPooled(d: Downstream, creds: MfaCredentials): void {
    const call = new PooledCall(d, creds, this.pooledHooks, this.opts.onGateRefusal !== undefined);
    d.up = call;
    d.upDone = false;
    const headers: string[] = [];
    for (const k in d.headers) {
      if (k.charCodeAt(0) === 58 /* ':' */) continue;
      const v = d.headers[k];
      if (Array.isArray(v)) for (const one of v) headers.push(k, one);
      else if (v !== undefined) headers.push(k, String(v));
    }
    try {
      this.opts.upstream.pool(creds).dispatch({ method: String(d.headers[':method'] ?? 'GET'), path: String(d.headers[':path']), headers, body: null }, call);
    } catch (e) {
      this.pooledHooks.failed(d, e as Error);
    }
  }

  private readonly pooledHooks: PooledCallHooks = {
    refused: (d, creds, h, body) => this.afterRefusal(d, creds, h, body, false),
    refusalSeen: (status, body) => this.reportRefusal(status, body),
    failed: (d, e) => d.fail(502, 'ServiceUnavailable', `Tapgate lost the connection to the gate at ${this.opts.upstream.origin}: ${describeError(e)}`),
  };

  /** Request body to the gate, kept (up to maxReplay) in case the gate asks for a tap first. */
  private pumpBody(d: Downstream): void {
    const body = d.body;
    d.captured = [];
    body.on('data', (chunk: Buffer) => {
      d.conn.bytesIn += chunk.length;
      if (d.captured) {
        d.capturedBytes += chunk.length;
        if (d.capturedBytes <= this.maxReplay) d.captured.push(chunk);
        else d.captured = undefined;
      }
      const up = d.up;
      // requests with a body go on HTTP/2 (send), so up is a stream here
      if (up && !(up instanceof PooledCall) && !up.write(chunk)) {
        body.pause();
        up.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      d.bodyEnded = true;
      if (d.up && !(d.up instanceof PooledCall)) d.up.end();
      d.onBodyEnd?.();
    });
  }

  private onResponse(d: Downstream, creds: MfaCredentials, up: ClientHttp2Stream, h: IncomingHttpHeaders, flags: number): void {
    if (d.up !== up) return;
    if ((h[':status'] as unknown as number) === 401 && !d.replayedAfterRefusal && (!d.hasBody || d.captured)) {
      this.checkRefusal(d, creds, up, h, flags);
      return;
    }
    const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    if (end) d.upDone = true;
    d.respond(h, end);
    if (end) {
      up.resume();
      return;
    }
    const sink = d.sink;
    const conn = d.conn;
    const status = h[':status'] as unknown as number;
    if ((status === 401 || status === 403) && this.opts.onGateRefusal) this.watchRefusal(up, status);
    up.on('data', (chunk: Buffer) => {
      conn.bytesOut += chunk.length;
      if (!sink.write(chunk)) {
        up.pause();
        sink.once('drain', () => up.resume());
      }
    });
    up.once('end', () => {
      d.upDone = true;
      sink.end();
    });
  }

  /** Reads a refusal's Status beside forwarding it, for the agent's events. */
  private watchRefusal(up: ClientHttp2Stream, status: number): void {
    readRefusal(up, (body) => this.reportRefusal(status, body));
  }

  private reportRefusal(status: number, body: Buffer): void {
    try {
      const s = JSON.parse(body.toString()) as { reason?: unknown; message?: unknown };
      if (typeof s.message === 'string') this.opts.onGateRefusal?.(status, String(s.reason ?? ''), s.message);
    } catch {
      // not a Status
    }
  }

  /** A 401 from the gate on HTTP/2: read it, then see whether it asks for a tap. */
  private checkRefusal(d: Downstream, creds: MfaCredentials, up: ClientHttp2Stream, h: IncomingHttpHeaders, flags: number): void {
    readRefusal(up, (body) => {
      d.upDone = true;
      this.afterRefusal(d, creds, h, body, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    });
  }

  /** A 401 read in full: if it is MFARequired, hold the request and replay it after the tap; else pass it on. */
  private afterRefusal(d: Downstream, creds: MfaCredentials, h: IncomingHttpHeaders, body: Buffer, headOnly: boolean): void {
    const reason = statusReason(body);
    if (reason !== MFA_REQUIRED || !(d.captured || !d.hasBody)) {
      if (reason !== undefined) this.opts.onGateRefusal?.(401, reason, messageOf(body));
      d.respond(h, headOnly);
      if (!headOnly) d.sink.end(body);
      return;
    }
    this.opts.session.rejected(creds);
    d.up = undefined;
    d.replayedAfterRefusal = true;
    const replay = () => {
      d.replayBody = d.captured ?? [];
      this.hold(d);
    };
    if (!d.hasBody || d.bodyEnded) replay();
    else d.onBodyEnd = replay;
  }

  // ---- upgrades: exec, attach, port-forward (WebSocket and SPDY), HTTP/1.1 only ----

  private onUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    socket.on('error', () => {});
    // nothing may be read (and lost) before the gate has answered and the pipe is in place
    socket.pause();
    const url = req.url ?? '/';
    const cluster = this.route(url, socket.authorized, (c, r, m) => socket.end(rawStatus(c, r, m)));
    if (cluster === undefined) return;
    const tracker = this.opts.tracker;
    const conn = tracker.open(cluster, req.method ?? 'GET', url.slice(3 + cluster.length), true, socket, socket);
    conn.onDisconnect = () => socket.destroy();
    const abort = new AbortController();
    socket.once('close', () => {
      abort.abort();
      tracker.close(conn);
    });
    const attempt = (creds: MfaCredentials, retried: boolean) => this.sendUpgrade(req, socket, head, conn, creds, retried, again);
    const again = () => {
      this.opts.session.acquire(conn, cluster, abort.signal).then(
        (creds) => {
          if (!socket.destroyed) attempt(creds, true);
        },
        (e) => {
          const he = e instanceof HoldError ? e : new HoldError('failed', describeError(e));
          socket.end(rawStatus(he.status, he.reason, he.message));
        },
      );
    };
    const creds = this.opts.session.current(cluster);
    if (creds) attempt(creds, false);
    else again();
  }

  private sendUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer, conn: TrackedConnection, creds: MfaCredentials, retried: boolean, again: () => void): void {
    const upReq = this.opts.upstream.upgradeRequest(creds, req.method ?? 'GET', req.url ?? '/', req.rawHeaders);
    upReq.on('upgrade', (res: IncomingMessage, upSock: import('node:net').Socket, upHead: Buffer) => {
      upSock.on('error', () => {});
      if (socket.destroyed) {
        upSock.destroy();
        return;
      }
      socket.write(rawHead(101, res.statusMessage || 'Switching Protocols', res.rawHeaders));
      if (upHead.length) {
        conn.bytesOut += upHead.length;
        socket.write(upHead);
      }
      if (head.length) {
        conn.bytesIn += head.length;
        upSock.write(head);
      }
      conn.onDisconnect = () => {
        socket.destroy();
        upSock.destroy();
      };
      splice(socket, upSock, (n) => (conn.bytesIn += n));
      splice(upSock, socket, (n) => (conn.bytesOut += n));
      socket.resume();
    });
    upReq.on('response', (res: IncomingMessage) => {
      // Not upgraded: pass the gate's (or the API server's) answer back so kubectl can fall back.
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode === 401 && !retried && statusReason(body) === MFA_REQUIRED) {
          this.opts.session.rejected(creds);
          again();
          return;
        }
        conn.bytesOut += body.length;
        socket.end(rawResponse(res.statusCode ?? 502, res.statusMessage ?? '', res.rawHeaders, body));
      });
    });
    upReq.on('error', (e) => {
      const m = `Tapgate could not reach the gate at ${this.opts.upstream.origin}: ${describeError(e)}`;
      socket.end(rawStatus(502, 'ServiceUnavailable', m));
    });
    upReq.end();
  }
}

/** Reads the start of a refusal's body (its Status), beside whatever else reads the stream. */
function readRefusal(up: ClientHttp2Stream, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  up.on('data', (c: Buffer) => {
    if ((size += c.length) <= MAX_REFUSAL_BYTES) chunks.push(c);
  });
  up.once('end', () => done(Buffer.concat(chunks)));
}

/** A watch or a followed log: a long-lived answer, carried on the gate's HTTP/2 session. */
function isStreaming(url: string): boolean {
  return url.includes('watch') || url.includes('follow=');
}

function messageOf(body: Buffer): string {
  try {
    return String((JSON.parse(body.toString()) as { message?: unknown }).message ?? '');
  } catch {
    return '';
  }
}

/** Bytes one way between two sockets with backpressure; either side ending ends the other. */
function splice(from: import('node:net').Socket, to: import('node:net').Socket, count: (n: number) => void): void {
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
  from.once('close', () => to.destroy());
}

function rawHead(status: number, message: string, rawHeaders: string[], skip?: Set<string>): string {
  let s = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (skip?.has(rawHeaders[i]!.toLowerCase())) continue;
    s += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  }
  return `${s}\r\n`;
}

const RESPONSE_SKIP = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

/** A complete HTTP/1.1 response on a socket taken over for an upgrade (the gate's hop-by-hop headers replaced). */
function rawResponse(status: number, message: string, rawHeaders: string[], body: Buffer): Buffer {
  const head = `${rawHead(status, message || 'Error', rawHeaders, RESPONSE_SKIP).slice(0, -2)}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** The proxy's own refusal on a socket taken over for an upgrade. */
function rawStatus(code: number, reason: string, message: string): Buffer {
  return rawResponse(code, reason, ['Content-Type', 'application/json', 'Warning', warningHeader(message)], kubeStatusBody(code, reason, message));
}
