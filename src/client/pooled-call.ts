import type { IncomingHttpHeaders } from 'node:http2';
import type { Dispatcher } from 'undici';
import { dropConnectionHeaders, relayWrite } from '../core/relay';
import type { Downstream } from './downstream';
import { MAX_REFUSAL_BYTES } from './kube-status';
import type { MfaCredentials } from './mfa-session';

/** What the local proxy does with the outcomes that are not plain forwarding. */
export interface PooledCallHooks {
  /** A 401 on the first try, read in full: replay after a tap if it says MFARequired, else pass it on. */
  refused(d: Downstream, creds: MfaCredentials, h: IncomingHttpHeaders, body: Buffer): void;
  /** A 401/403 that was forwarded: its Status, for the agent's events. */
  refusalSeen(status: number, body: Buffer): void;
  /** The gate could not be reached, or the connection broke before the answer was complete. */
  failed(d: Downstream, e: Error): void;
}

/**
 * One short request (no body, not a watch) on the HTTP/1.1 keep-alive pool to the gate, as an
 * undici dispatch handler: the answer is written straight to the client with backpressure, without
 * a stream object per request (decision 0008).
 */
export class PooledCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private cancelled = false;
  /** a refusal's body being read: in full for an MFA check, or beside forwarding for the events */
  private refusal: Buffer[] | undefined;
  private refusalBytes = 0;
  private holdForCheck = false;
  private status = 0;
  private head: IncomingHttpHeaders | undefined;

  constructor(
    private readonly d: Downstream,
    private readonly creds: MfaCredentials,
    private readonly hooks: PooledCallHooks,
    private readonly watchRefusals: boolean,
  ) {}

  /** Stops the request: the client went away before the answer was complete. */
  cancel(): void {
    this.cancelled = true;
    this.controller?.abort(new Error('the client went away'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.cancelled) controller.abort(new Error('the client went away'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.d.up !== this) return;
    dropConnectionHeaders(headers);
    headers[':status'] = status as unknown as string;
    this.status = status;
    if (status === 401 && !this.d.replayedAfterRefusal) {
      this.holdForCheck = true;
      this.head = headers;
      this.refusal = [];
      return;
    }
    if ((status === 401 || status === 403) && this.watchRefusals) this.refusal = [];
    this.d.respond(headers, false);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.d.up !== this) return;
    if (this.refusal && (this.refusalBytes += chunk.length) <= MAX_REFUSAL_BYTES) this.refusal.push(chunk);
    if (this.holdForCheck) return;
    this.d.conn.bytesOut += chunk.length;
    const sink = this.d.sink;
    if (relayWrite(sink, chunk)) {
      controller.pause();
      sink.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.d.up !== this) return;
    this.d.upDone = true;
    const body = this.refusal ? Buffer.concat(this.refusal) : undefined;
    if (this.holdForCheck) {
      this.hooks.refused(this.d, this.creds, this.head!, body!);
      return;
    }
    this.d.sink.end();
    if (body) this.hooks.refusalSeen(this.status, body);
  }

  onResponseError(_controller: Dispatcher.DispatchController, e: Error): void {
    if (this.cancelled || this.d.up !== this) return;
    this.d.upDone = true;
    this.hooks.failed(this.d, e);
  }
}
