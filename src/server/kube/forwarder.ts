import http2, { type ServerHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import { TapgateError, describeError } from '../../core/errors';
import { dropConnectionHeaders, relayWrite } from '../../core/relay';
import type { Admitted } from './admission';
import type { StreamEndReason } from './auth-context';
import type { ClientConn } from './client-conn';
import { upstreamHeaders } from './impersonation';
import type { KubeMetrics } from './metrics';
import { podTarget } from './request-path';
import { cutStatus, statusBody } from './status';
import type { StreamHandle, StreamInfo, StreamRegistry } from './streams';
import type { UpstreamExchange } from './upstream';

const noop = () => undefined;

export function streamInfoOf(a: Admitted, remote: string, now: number): Omit<StreamInfo, 'id'> {
  const q = a.kubePath.indexOf('?');
  const target = podTarget(a.kubePath);
  return {
    actor: a.ctx.actor,
    identity: a.ctx.identity,
    cluster: a.cluster,
    kind: a.stream ?? 'upgrade',
    path: q < 0 ? a.kubePath : a.kubePath.slice(0, q),
    ...(target ? { namespace: target.namespace, pod: target.pod } : {}),
    ...(target?.command ? { command: target.command } : {}),
    remote,
    startedAt: now,
    certNotAfter: a.ctx.cert.notAfter,
    ...(a.ctx.identity.loginExpires !== undefined ? { loginExpires: a.ctx.identity.loginExpires } : {}),
    deadline: a.ctx.streamDeadline,
    deadlineReason: a.ctx.streamDeadlineReason,
  };
}

export function unreachable(cluster: string, err: unknown): TapgateError {
  return new TapgateError(
    'upstream_unreachable',
    `the API server of cluster "${cluster}" could not be reached through the gate (${describeError(err)}); try again shortly, or ask an administrator to check the gate's connection to it`,
    { status: 503, auditReason: 'upstream unreachable' },
  );
}

/** The client's side of one exchange, over HTTP/2 or HTTP/1.1. */
interface ClientSide {
  readonly out: Writable;
  gone(): boolean;
  /** sends the status and headers now (watch and logs -f clients wait for them before the first event) */
  respond(status: number, headers: IncomingHttpHeaders): void;
  refuse(e: TapgateError): void;
  /** ends the response as an error the client notices */
  abort(): void;
}

// The per-request helpers below are classes, not object literals of closures: the gate runs
// under tsx, whose keepNames transform adds an Object.defineProperty call for every named
// closure created per request (measured ~3% of the gate's CPU on small GETs).

class H2Side implements ClientSide {
  constructor(private readonly stream: ServerHttp2Stream) {}

  get out(): Writable {
    return this.stream;
  }

  gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  respond(status: number, h: IncomingHttpHeaders): void {
    const out = dropConnectionHeaders(h) as OutgoingHttpHeaders;
    out[':status'] = status;
    this.stream.respond(out);
  }

  refuse(e: TapgateError): void {
    respondH2(this.stream, e);
  }

  abort(): void {
    this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}

class H1Side implements ClientSide {
  constructor(
    private readonly res: ServerResponse,
    /** watch or logs -f: the head goes out at once, before the first event */
    private readonly streaming: boolean,
  ) {}

  get out(): Writable {
    return this.res;
  }

  gone(): boolean {
    return this.res.destroyed;
  }

  respond(status: number, h: IncomingHttpHeaders): void {
    this.res.writeHead(status, dropConnectionHeaders(h) as OutgoingHttpHeaders);
    if (this.streaming) this.res.flushHeaders();
  }

  refuse(e: TapgateError): void {
    respondH1(this.res, e);
  }

  abort(): void {
    this.res.destroy();
  }
}

/**
 * Plain requests (including watch and logs -f) from an admitted client to the API server.
 * Headers go out at once, bodies are piped both ways without buffering, nothing times out, and
 * a client that leaves cancels its upstream request.
 */
export class Forwarder {
  constructor(
    private readonly deps: { registry: StreamRegistry; metrics: KubeMetrics; clock: Clock; log: Logger },
  ) {}

  /** A request that arrived over HTTP/2 (the local proxy, kubectl talking to the gate directly). */
  h2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, endStream: boolean, a: Admitted, conn: ClientConn): void {
    stream.on('error', noop);
    this.forward(a, conn, headers[':method'] as string, headers, endStream ? null : stream, new H2Side(stream));
  }

  /** A request that arrived over HTTP/1.1 (kubectl or a bot pointed at the gate directly). */
  h1(req: IncomingMessage, res: ServerResponse, a: Admitted, conn: ClientConn): void {
    req.on('error', noop);
    res.on('error', noop);
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    this.forward(a, conn, req.method ?? 'GET', req.headers, hasBody ? req : null, new H1Side(res, a.stream !== undefined));
  }

  private forward(a: Admitted, conn: ClientConn, method: string, headers: IncomingHttpHeaders, body: Readable | null, side: ClientSide): void {
    const { metrics, log } = this.deps;
    if (!a.stream && body === null) {
      const call = new ShortCall(side, a.cluster, metrics, log);
      side.out.once('close', call.clientClosed);
      a.upstream.dispatch({ method, path: a.upstreamPath, headers: upstreamHeaders(headers, a.ctx.as, a.upstream.creds.authorization()) }, call);
      return;
    }
    let handle: StreamHandle | undefined;
    let relayed: Relay | undefined;
    let responded = false;
    const exchange = a.upstream.send(
      { method, path: a.upstreamPath, headers: upstreamHeaders(headers, a.ctx.as, a.upstream.creds.authorization()), body, long: a.stream !== undefined },
      (err, res) => {
        if (side.gone()) {
          res?.body.destroy();
          return;
        }
        responded = true;
        if (err || !res) {
          log.warn({ err, cluster: a.cluster }, 'kube listener: upstream request failed');
          side.refuse(unreachable(a.cluster, err));
          metrics.request(a.cluster, 503);
          handle?.end('upstream_error');
          return;
        }
        metrics.request(a.cluster, res.status);
        const jsonWatch = a.stream === 'watch' && res.status === 200 && String(res.headers['content-type'] ?? '').startsWith('application/json');
        side.respond(res.status, res.headers);
        relayed = relay(res.body, side.out, exchange, jsonWatch, (reason) => handle?.end(reason));
      },
    );
    side.out.once('close', () => {
      if (!responded) exchange.abort();
      handle?.end('client_closed');
    });
    if (!a.stream) return;
    handle = this.deps.registry.open(streamInfoOf(a, conn.remote, this.deps.clock.now()), (reason, detail) => {
      // A JSON watch ends with an ERROR event saying why, so kubectl and informers report it.
      if (relayed?.atEventBoundary()) {
        relayed.detach();
        exchange.abort();
        side.out.end(watchErrorEvent(reason, detail));
        return;
      }
      side.abort();
      exchange.abort();
    });
  }
}

/**
 * A request without a body that is not a stream (most of kubectl's calls), as an undici dispatch
 * handler: the answer goes straight to the client, with the same backpressure as BodyRelay.
 */
class ShortCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private answered = false;
  private done = false;
  private cancelled = false;
  readonly clientClosed = (): void => {
    if (this.done) return;
    this.cancelled = true;
    this.controller?.abort(new Error('the client went away'));
  };
  private readonly drained = (): void => this.controller?.resume();

  constructor(
    private readonly side: ClientSide,
    private readonly cluster: string,
    private readonly metrics: KubeMetrics,
    private readonly log: Logger,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(new Error('the client went away'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.side.gone()) {
      controller.abort(new Error('the client went away'));
      return;
    }
    this.answered = true;
    this.metrics.request(this.cluster, status);
    this.side.respond(status, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const out = this.side.out;
    if (out.destroyed) return;
    if (relayWrite(out, chunk)) {
      controller.pause();
      out.once('drain', this.drained);
    }
  }

  onResponseEnd(): void {
    this.done = true;
    this.side.out.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.done = true;
    if (this.cancelled || this.side.gone()) return;
    if (this.answered) {
      // an error code (not a clean end) tells the client the response is incomplete
      this.side.abort();
      return;
    }
    this.log.warn({ err, cluster: this.cluster }, 'kube listener: upstream request failed');
    this.side.refuse(unreachable(this.cluster, err));
    this.metrics.request(this.cluster, 503);
  }
}

interface Relay {
  /** true when the bytes sent so far end with a whole watch event (JSON watches only) */
  atEventBoundary(): boolean;
  /** stops relaying without ending the client's response */
  detach(): void;
}

/**
 * Relays an upstream body to the client. Not stream.pipeline: it destroys an HTTP/2 stream on
 * 'aborted', before the RST_STREAM of stream.close() is submitted, so the client never learns
 * that its watch was cut.
 */
function relay(body: Readable, out: Writable, exchange: UpstreamExchange, jsonWatch: boolean, done: (reason: StreamEndReason) => void): Relay {
  return new BodyRelay(body, out, exchange, jsonWatch, done);
}

class BodyRelay implements Relay {
  private lastByte = 10;
  private readonly onData: (c: Buffer) => void;
  private readonly onDrain: () => void;
  private readonly onEnd: () => void;
  private readonly onError: () => void;
  private readonly onClose: () => void;

  constructor(
    private readonly body: Readable,
    private readonly out: Writable,
    private readonly exchange: UpstreamExchange,
    private readonly jsonWatch: boolean,
    private readonly done: (reason: StreamEndReason) => void,
  ) {
    this.onData = this.write.bind(this);
    this.onDrain = this.drained.bind(this);
    this.onEnd = this.ended.bind(this);
    this.onError = this.failed.bind(this);
    this.onClose = this.clientClosed.bind(this);
    body.on('data', this.onData);
    body.once('end', this.onEnd);
    body.once('error', this.onError);
    out.once('close', this.onClose);
  }

  atEventBoundary(): boolean {
    return this.jsonWatch && this.lastByte === 10 && !this.out.writableEnded && !this.out.destroyed;
  }

  detach(): void {
    const { body } = this;
    body.off('data', this.onData);
    body.off('end', this.onEnd);
    body.off('error', this.onError);
    body.on('error', noop);
    this.out.off('drain', this.onDrain);
    this.out.off('close', this.onClose);
    body.destroy();
  }

  private write(c: Buffer): void {
    if (this.jsonWatch && c.length) this.lastByte = c[c.length - 1]!;
    const out = this.out;
    if (out.destroyed) return;
    if (relayWrite(out, c)) {
      this.body.pause();
      out.once('drain', this.onDrain);
    }
  }

  private drained(): void {
    this.body.resume();
  }

  private ended(): void {
    this.out.end();
    this.done('upstream_closed');
  }

  private failed(): void {
    // an error code (not a clean end) tells the client the response is incomplete
    this.out.destroy(new Error('the API server ended the response early'));
    this.done('upstream_error');
  }

  private clientClosed(): void {
    if (this.body.readableEnded) return;
    this.exchange.abort();
    this.body.destroy();
    this.done('client_closed');
  }
}

/** The watch event the API server itself sends when a watch cannot go on. */
function watchErrorEvent(reason: StreamEndReason, detail: string): string {
  return `${JSON.stringify({ type: 'ERROR', object: cutStatus(reason, detail, 'watch') })}\n`;
}

export function respondH2(stream: ServerHttp2Stream, e: TapgateError): void {
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const body = statusBody(e);
  stream.respond({ ':status': e.status, 'content-type': 'application/json', 'content-length': body.length });
  stream.end(body);
}

export function respondH1(res: ServerResponse, e: TapgateError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(e);
  res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}
