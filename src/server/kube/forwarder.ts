import http2, { type ServerHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import { TapgateError, describeError } from '../../core/errors';
import type { Admitted } from './admission';
import type { StreamEndReason } from './auth-context';
import type { ClientConn } from './client-conn';
import { upstreamHeaders } from './impersonation';
import type { KubeMetrics } from './metrics';
import { podTarget } from './request-path';
import { statusBody } from './status';
import type { StreamHandle, StreamInfo, StreamRegistry } from './streams';
import type { UpstreamExchange, UpstreamResponse } from './upstream';

const noop = () => undefined;

/** Response headers that belong to one connection and must not cross the gate. */
function dropConnectionHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  if (h['connection'] !== undefined) delete h['connection'];
  if (h['keep-alive'] !== undefined) delete h['keep-alive'];
  if (h['transfer-encoding'] !== undefined) delete h['transfer-encoding'];
  if (h['proxy-connection'] !== undefined) delete h['proxy-connection'];
  if (h['upgrade'] !== undefined) delete h['upgrade'];
  return h;
}

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
    const { metrics, log } = this.deps;
    const method = headers[':method'] as string;
    let handle: StreamHandle | undefined;
    let responded = false;
    stream.on('error', noop);
    const exchange = a.upstream.send(
      {
        method,
        path: a.upstreamPath,
        headers: upstreamHeaders(headers, a.ctx.as, a.upstream.creds.authorization()),
        body: endStream ? null : stream,
      },
      (err, res) => {
        if (stream.destroyed || stream.closed) {
          res?.body.destroy();
          return;
        }
        responded = true;
        if (err || !res) {
          log.warn({ err, cluster: a.cluster }, 'kube listener: upstream request failed');
          respondH2(stream, unreachable(a.cluster, err));
          metrics.request(a.cluster, 503);
          handle?.end('upstream_error');
          return;
        }
        metrics.request(a.cluster, res.status);
        const h = dropConnectionHeaders(res.headers) as OutgoingHttpHeaders;
        h[':status'] = res.status;
        stream.respond(h);
        relay(res.body, stream, exchange, (reason) => handle?.end(reason));
      },
    );
    stream.once('close', () => {
      if (!responded) exchange.abort();
      handle?.end('client_closed');
    });
    if (a.stream) {
      handle = this.deps.registry.open(streamInfoOf(a, conn.remote, this.deps.clock.now()), () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        exchange.abort();
      });
    }
  }

  /** A request that arrived over HTTP/1.1 (kubectl or a bot pointed at the gate directly). */
  h1(req: IncomingMessage, res: ServerResponse, a: Admitted, conn: ClientConn): void {
    const { metrics, log } = this.deps;
    let handle: StreamHandle | undefined;
    let responded = false;
    req.on('error', noop);
    res.on('error', noop);
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const exchange = a.upstream.send(
      {
        method: req.method ?? 'GET',
        path: a.upstreamPath,
        headers: upstreamHeaders(req.headers, a.ctx.as, a.upstream.creds.authorization()),
        body: hasBody ? (req as Readable) : null,
      },
      (err, up?: UpstreamResponse) => {
        if (res.destroyed) {
          up?.body.destroy();
          return;
        }
        responded = true;
        if (err || !up) {
          log.warn({ err, cluster: a.cluster }, 'kube listener: upstream request failed');
          respondH1(res, unreachable(a.cluster, err));
          metrics.request(a.cluster, 503);
          handle?.end('upstream_error');
          return;
        }
        metrics.request(a.cluster, up.status);
        res.writeHead(up.status, dropConnectionHeaders(up.headers) as OutgoingHttpHeaders);
        // watch and logs -f: the client must see the headers before the first event arrives
        if (a.stream) res.flushHeaders();
        relay(up.body, res, exchange, (reason) => handle?.end(reason));
      },
    );
    res.once('close', () => {
      if (!responded) exchange.abort();
      handle?.end('client_closed');
    });
    if (a.stream) {
      handle = this.deps.registry.open(streamInfoOf(a, conn.remote, this.deps.clock.now()), () => {
        exchange.abort();
        res.destroy();
      });
    }
  }
}

/**
 * Pipes an upstream body to the client. Not stream.pipeline: it destroys an HTTP/2 stream on
 * 'aborted', before the RST_STREAM of stream.close() is submitted, so the client never learns
 * that its watch was cut.
 */
function relay(body: Readable, out: Writable, exchange: UpstreamExchange, done: (reason: StreamEndReason) => void): void {
  body.pipe(out);
  body.once('end', () => done('upstream_closed'));
  body.once('error', () => {
    // an error code (not a clean end) tells the client the response is incomplete
    out.destroy(new Error('the API server ended the response early'));
    done('upstream_error');
  });
  out.once('close', () => {
    if (body.readableEnded) return;
    exchange.abort();
    body.destroy();
    done('client_closed');
  });
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
