import { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Pool, type Dispatcher } from 'undici';
import type { UpstreamCredentials } from './upstream-credentials';

/** 16 MiB per stream and 32 MiB per connection: HTTP/2's default 64 KiB caps bulk reads near 100 MB/s. */
export const H2_STREAM_WINDOW = 16 * 1024 * 1024;
export const H2_SESSION_WINDOW = 32 * 1024 * 1024;
/** Streams per upstream HTTP/2 connection before another is opened (watches hold theirs for hours). */
const STREAMS_PER_SESSION = 200;
const PING_INTERVAL_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;

export interface UpstreamRequest {
  method: string;
  /** path and query, already including the cluster's base path */
  path: string;
  headers: OutgoingHttpHeaders;
  /** null when the request has no body */
  body: Readable | null;
  /** watch or logs -f: may stay open for hours */
  long: boolean;
}

export interface UpstreamResponse {
  status: number;
  /** lower-case names; HTTP/2 pseudo-headers are already removed */
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface UpstreamExchange {
  /** Cancels the request upstream (client went away, stream cut). */
  abort(): void;
}

type H2Entry = { session: ClientHttp2Session; active: number };

/**
 * Connections from the gate to one API server. Short requests go through an undici keep-alive
 * pool: measured here, Node's HTTP/2 client costs the gate ~40% more CPU per small request.
 * Watches and logs -f go over HTTP/2 when the server offers it (ALPN h2), multiplexed on one
 * warm session with large flow-control windows, so hundreds of them do not hold hundreds of
 * connections; without h2 they use the pool too. Upgrades do not come through here (upgrade.ts).
 */
export class Upstream {
  private mode?: Promise<'h2' | 'h1'>;
  private readonly sessions: H2Entry[] = [];
  private pool?: Pool;
  private closed = false;
  private pinger?: NodeJS.Timeout;

  constructor(
    readonly creds: UpstreamCredentials,
    private readonly log: Logger,
  ) {}

  get name(): string {
    return this.creds.cluster;
  }

  /**
   * Connects in the background so the first kubectl call does not pay for the handshake; the
   * gate starts whether or not the API server answers, and failures are retried on use.
   */
  warm(): void {
    this.protocol().catch((err: unknown) => {
      this.log.warn({ err, cluster: this.name }, 'kube listener: the API server is not reachable yet; will retry on the first request');
    });
    this.pinger = setInterval(() => {
      for (const e of this.sessions) if (!e.session.closed && !e.session.destroyed) e.session.ping(() => undefined);
    }, PING_INTERVAL_MS);
    this.pinger.unref();
  }

  send(req: UpstreamRequest, cb: (err: Error | null, res?: UpstreamResponse) => void): UpstreamExchange {
    if (!req.long || this.knownMode === 'h1') return this.sendH1(req, cb);
    let aborted = false;
    let inner: UpstreamExchange | undefined;
    const start = (mode: 'h2' | 'h1') => {
      if (aborted) return;
      inner = mode === 'h2' ? this.sendH2(req, cb) : this.sendH1(req, cb);
    };
    const known = this.knownMode;
    if (known) start(known);
    else
      this.protocol().then(start, (err: Error) => {
        if (!aborted) cb(err);
      });
    return {
      abort: () => {
        aborted = true;
        inner?.abort();
      },
    };
  }

  /**
   * A short request without a body on the keep-alive pool, answered through a dispatch handler:
   * no stream object or promise per request (the forwarder's ShortCall writes the answer straight
   * to the client).
   */
  dispatch(req: { method: string; path: string; headers: OutgoingHttpHeaders }, handler: Dispatcher.DispatchHandler): void {
    const pool = (this.pool ??= this.makePool());
    pool.dispatch({ method: req.method, path: req.path, headers: req.headers as Record<string, string | string[]>, body: null }, handler);
  }

  private knownMode?: 'h2' | 'h1';

  /** Finds out (once) whether the API server speaks HTTP/2; the probe's TLS socket becomes the first session. */
  private protocol(): Promise<'h2' | 'h1'> {
    if (!this.mode) {
      this.mode = this.probe().then(
        (m) => {
          this.knownMode = m;
          return m;
        },
        (err: unknown) => {
          this.mode = undefined;
          throw err;
        },
      );
    }
    return this.mode;
  }

  private probe(): Promise<'h2' | 'h1'> {
    return new Promise((resolve, reject) => {
      const socket = this.tlsConnect(['h2', 'http/1.1']);
      socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`no TLS connection within ${CONNECT_TIMEOUT_MS / 1000}s`)));
      socket.once('secureConnect', () => {
        socket.setTimeout(0);
        socket.removeListener('error', reject);
        if (socket.alpnProtocol === 'h2') {
          this.adoptSession(socket);
          resolve('h2');
        } else {
          socket.destroy();
          resolve('h1');
        }
      });
      socket.once('error', reject);
    });
  }

  private tlsConnect(alpn: string[]): TLSSocket {
    const { origin, tls: t } = this.creds;
    const socket = tls.connect({
      host: origin.hostname.replace(/^\[|\]$/g, ''),
      port: Number(origin.port || 443),
      servername: t.servername ?? (isIp(origin.hostname) ? undefined : origin.hostname),
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      rejectUnauthorized: t.rejectUnauthorized,
      ALPNProtocols: alpn,
    });
    // HEADERS and DATA frames go out in separate writes: Nagle would hold the second for an ACK
    socket.setNoDelay(true);
    return socket;
  }

  private adoptSession(socket?: TLSSocket): H2Entry {
    const session = http2.connect(this.creds.origin, {
      createConnection: () => socket ?? this.tlsConnect(['h2']),
      settings: { initialWindowSize: H2_STREAM_WINDOW, enablePush: false },
      maxSessionMemory: 128,
    });
    const entry: H2Entry = { session, active: 0 };
    this.sessions.push(entry);
    const drop = () => {
      const i = this.sessions.indexOf(entry);
      if (i >= 0) this.sessions.splice(i, 1);
    };
    session.on('connect', () => session.setLocalWindowSize(H2_SESSION_WINDOW));
    session.on('goaway', drop);
    session.on('close', drop);
    session.on('error', (err) => {
      drop();
      this.log.warn({ err, cluster: this.name }, 'kube listener: upstream HTTP/2 connection failed');
    });
    if (socket) session.setLocalWindowSize(H2_SESSION_WINDOW);
    return entry;
  }

  private pickSession(): H2Entry {
    let best: H2Entry | undefined;
    for (const e of this.sessions) {
      if (e.session.closed || e.session.destroyed) continue;
      const limit = Math.min(e.session.remoteSettings.maxConcurrentStreams ?? STREAMS_PER_SESSION, STREAMS_PER_SESSION);
      if (e.active < limit && (!best || e.active < best.active)) best = e;
    }
    return best ?? this.adoptSession();
  }

  private sendH2(req: UpstreamRequest, cb: (err: Error | null, res?: UpstreamResponse) => void): UpstreamExchange {
    const entry = this.pickSession();
    const headers = req.headers;
    headers[':method'] = req.method;
    headers[':path'] = req.path;
    headers[':authority'] = this.creds.origin.host;
    headers[':scheme'] = 'https';
    let stream: ClientHttp2Stream;
    try {
      stream = entry.session.request(headers, { endStream: req.body === null });
    } catch (err) {
      process.nextTick(cb, err as Error);
      return { abort: () => undefined };
    }
    entry.active++;
    let answered = false;
    stream.once('close', () => {
      entry.active--;
      if (!answered) {
        answered = true;
        cb(new Error(`the API server closed the stream (HTTP/2 code ${stream.rstCode})`));
      }
    });
    stream.on('error', (err) => {
      if (!answered) {
        answered = true;
        cb(err);
      }
    });
    stream.once('response', (h) => {
      if (answered) return;
      answered = true;
      const status = Number(h[':status']);
      delete h[':status'];
      cb(null, { status, headers: h as IncomingHttpHeaders, body: stream });
    });
    if (req.body) {
      req.body.pipe(stream);
      req.body.once('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
    }
    return { abort: () => stream.close(http2.constants.NGHTTP2_CANCEL) };
  }

  private sendH1(req: UpstreamRequest, cb: (err: Error | null, res?: UpstreamResponse) => void): UpstreamExchange {
    const pool = (this.pool ??= this.makePool());
    // undici takes an EventEmitter as its abort signal; cheaper than an AbortController per request
    const abort = new EventEmitter();
    pool
      .request({
        method: req.method as 'GET',
        path: req.path,
        headers: req.headers as Record<string, string | string[]>,
        // undici destroys a request body it is done with; a PassThrough keeps it off the client's
        // stream (HTTP/2: the same object carries the response) and socket (HTTP/1.1)
        body: req.body ? req.body.pipe(new PassThrough()) : undefined,
        signal: abort,
      })
      .then(
        (r) => cb(null, { status: r.statusCode, headers: r.headers as IncomingHttpHeaders, body: r.body }),
        (err: Error) => cb(err),
      );
    return new EmitterAbort(abort);
  }

  private makePool(): Pool {
    const { tls: t, origin } = this.creds;
    // One secure context for every pooled connection: without it undici has tls.connect parse
    // the CA, certificate and key again for each new connection (a burst of clients opens dozens).
    const secureContext = tls.createSecureContext({ ca: t.ca, cert: t.cert, key: t.key });
    return new Pool(origin.origin, {
      // no cap: without HTTP/2 upstream, every watch holds a connection
      connections: null,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
      // watches and logs -f stream for hours; the client decides when they end
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: {
        secureContext,
        servername: t.servername ?? (isIp(origin.hostname) ? undefined : origin.hostname),
        rejectUnauthorized: t.rejectUnauthorized,
        ALPNProtocols: ['http/1.1'],
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    for (const e of [...this.sessions]) e.session.destroy();
    await this.pool?.destroy().catch(() => undefined);
  }
}

/** Cancels an undici request through its EventEmitter signal (a class: no closure per request). */
class EmitterAbort implements UpstreamExchange {
  constructor(private readonly signal: EventEmitter) {}

  abort(): void {
    this.signal.emit('abort');
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
}
