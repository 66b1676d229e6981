import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import type { ConnectionTracker, TrackedConnection } from './connection-tracker';
import { kubeStatusBody, warningHeader } from './kube-status';
import { PooledCall } from './pooled-call';

const { NGHTTP2_CANCEL } = http2.constants;


/** One client request, whichever protocol it came in on. */
export abstract class Downstream {
  conn!: TrackedConnection;
  cluster!: string;
  headers!: OutgoingHttpHeaders;
  hasBody = false;
  /** watch or follow: a long-lived answer (HTTP/2 to the gate; HTTP/1.1 sends the head at once) */
  streaming = false;
  /** the gate request now carrying this one: an HTTP/2 stream, or a call on the HTTP/1.1 pool */
  up: ClientHttp2Stream | PooledCall | undefined;
  captured: Buffer[] | undefined;
  capturedBytes = 0;
  bodyEnded = false;
  replayBody: Buffer[] | undefined;
  replayedAfterRefusal = false;
  /** the gate's answer arrived in full: its stream is closed, nothing to cancel */
  upDone = false;
  onBodyEnd: (() => void) | undefined;
  onGone: (() => void) | undefined;
  protected ended = false;

  constructor(protected readonly tracker: ConnectionTracker) {}

  start(conn: TrackedConnection, cluster: string, headers: OutgoingHttpHeaders, hasBody: boolean): void {
    this.conn = conn;
    this.cluster = cluster;
    this.headers = headers;
    this.hasBody = hasBody;
  }

  abstract readonly body: Readable;
  abstract readonly sink: Writable;
  abstract get gone(): boolean;
  abstract get headersSent(): boolean;
  /** response head from the gate (HTTP/2 headers with :status) */
  abstract respond(h: IncomingHttpHeaders, endStream: boolean): void;
  protected abstract sendStatus(code: number, body: Buffer, warning: string): void;
  protected abstract reset(): void;

  /** Answers with a kube Status, or cuts the stream if the answer has begun. */
  fail(code: number, reason: string, message: string): void {
    if (this.gone) return;
    if (this.headersSent) this.reset();
    else this.sendStatus(code, kubeStatusBody(code, reason, message), warningHeader(message));
  }

  /** The client side closed: stop the gate side, forget the tracked connection. */
  protected closed(): void {
    if (this.ended) return;
    this.ended = true;
    this.onGone?.();
    const up = this.up;
    if (up instanceof PooledCall) {
      if (!this.upDone) up.cancel();
    } else if (up && !up.closed && !up.destroyed) {
      // A stream the gate already finished must not be reset: nghttp2 counts RST_STREAM on a closed
      // stream as an invalid frame and drops the whole session after 1000 of them.
      if (!this.upDone) up.close(NGHTTP2_CANCEL);
      else if (!up.writableEnded) up.end();
    }
    if (this.conn) this.tracker.close(this.conn);
  }
}

export class H2Downstream extends Downstream {
  readonly body: Readable;
  readonly sink: Writable;

  constructor(
    tracker: ConnectionTracker,
    private readonly stream: ServerHttp2Stream,
  ) {
    super(tracker);
    this.body = stream;
    this.sink = stream;
    stream.on('error', () => {});
  }

  override start(conn: TrackedConnection, cluster: string, headers: OutgoingHttpHeaders, hasBody: boolean): void {
    super.start(conn, cluster, headers, hasBody);
    conn.onDisconnect = () => this.reset();
    this.stream.once('close', () => this.closed());
  }

  get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  respond(h: IncomingHttpHeaders, endStream: boolean): void {
    if (!this.gone) this.stream.respond(h as OutgoingHttpHeaders, { endStream });
  }

  protected sendStatus(code: number, body: Buffer, warning: string): void {
    this.stream.respond({ ':status': code, 'content-type': 'application/json', 'content-length': body.length, warning });
    this.stream.end(body);
  }

  protected reset(): void {
    this.stream.close(NGHTTP2_CANCEL);
  }
}

export class H1Downstream extends Downstream {
  readonly body: Readable;
  readonly sink: Writable;
  constructor(
    tracker: ConnectionTracker,
    req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    super(tracker);
    this.body = req;
    this.sink = res;
    res.on('error', () => {});
  }

  override start(conn: TrackedConnection, cluster: string, headers: OutgoingHttpHeaders, hasBody: boolean): void {
    super.start(conn, cluster, headers, hasBody);
    conn.onDisconnect = () => this.reset();
    this.res.once('close', () => this.closed());
  }

  get gone(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  respond(h: IncomingHttpHeaders, endStream: boolean): void {
    if (this.gone) return;
    const status = h[':status'] as unknown as number;
    delete h[':status'];
    this.res.writeHead(status, h as http.OutgoingHttpHeaders);
    if (endStream) this.res.end();
    else if (this.streaming) this.res.flushHeaders();
  }

  protected sendStatus(code: number, body: Buffer, warning: string): void {
    this.res.writeHead(code, { 'content-type': 'application/json', 'content-length': body.length, warning });
    this.res.end(body);
  }

  protected reset(): void {
    this.res.destroy();
  }
}
