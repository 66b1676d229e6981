import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKeyPair } from '../pki/ca';
import type { Clock } from '../core/clock';
import { describeError, TapgateError } from '../core/errors';
import { formatDuration } from '../core/duration';
import type { AgentEventKind, ConnectionInfo, PendingTap } from './agent-types';
import type { ConnectionTracker, TrackedConnection } from './connection-tracker';
import type { TapPrompt } from './tap-prompt';

/** The subset of GateClient the MFA session uses (a fake in unit tests). */
export interface MfaIssuer {
  createMfaRequest(r: {
    clusters: string[];
    ttlMs?: number;
    publicKeyPem: string;
    requester: { host: string; process?: string; command?: string };
  }): Promise<{ id: string; tapUrl: string; expiresAt: number | string }>;
  waitMfaRequest(id: string, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<{ certPem: string; notAfter: number | string; ttlMs: number; cappedBy: string }>;
  cancelMfaRequest(id: string): Promise<unknown>;
}

/** An MFA certificate and its key. Lives in memory only; never written anywhere. */
export interface MfaCredentials {
  certPem: string;
  keyPem: string;
  notAfter: number;
  ttlMs: number;
  cappedBy: string;
  clusters: string[];
  verifiedAt: number;
}

export type HoldFailure = 'timeout' | 'cancelled' | 'failed' | 'login';

/** Why a held request was not sent on; the local proxy turns it into a kube Status. */
export class HoldError extends TapgateError {
  constructor(
    readonly failure: HoldFailure,
    message: string,
  ) {
    const status = { timeout: 504, cancelled: 401, failed: 503, login: 401 }[failure];
    super(`tap_${failure}`, message, { status, auditReason: `held request ${failure}` });
  }

  /** the kube Status reason kubectl shows */
  get reason(): string {
    return { timeout: 'Timeout', cancelled: 'MFARequired', failed: 'ServiceUnavailable', login: 'Unauthorized' }[this.failure];
  }
}

interface Waiter {
  conn?: TrackedConnection;
  cluster?: string;
  resolve(c: MfaCredentials): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface TapFlow {
  /** the gate's MFA request; undefined while it is being created */
  id?: string;
  tapUrl?: string;
  clusters: string[];
  giveUpAt: number;
  abort: AbortController;
  timer: NodeJS.Timeout;
  outcome?: 'timeout' | 'cancelled';
  /** resolves when the flow ends, whatever the outcome */
  done: Promise<void>;
}

export interface MfaSessionOptions {
  issuer: MfaIssuer;
  prompt: TapPrompt;
  clusters: string[];
  /** MFA ttl to ask for; the gate caps it (undefined = the gate's interval) */
  ttlMs?: number;
  /** how long a held request waits for the tap */
  holdTimeoutMs: number;
  clock: Clock;
  tracker?: ConnectionTracker;
  /** what the tap page shows as the requesting program */
  processName?: string;
  onEvent?: (kind: AgentEventKind, message: string) => void;
  /** called when the state others see changed (credentials, pending tap, held list) */
  onChange?: () => void;
  keygen?: () => Promise<{ publicKeyPem: string; privateKeyPem: string }>;
  /** treat the certificate as lapsed this long before notAfter, so requests do not race the gate */
  expiryMarginMs?: number;
}

/** Asks for no more than this when no --ttl is given: the gate caps it at the role's interval. */
const ASK_FOR_MAX_MS = 24 * 3_600_000;

/**
 * The MFA certificate and the hold-and-tap protocol: while a certificate is valid, requests go
 * straight through; when there is none, each request waits (is held) on ONE tap for all opened
 * clusters, and every held request continues when the certificate arrives.
 */
export class MfaSession {
  private creds: MfaCredentials | undefined;
  private flow: TapFlow | undefined;
  private readonly waiters = new Set<Waiter>();
  private readonly clusterSet: Set<string>;
  private lastError: string | undefined;

  constructor(private readonly opts: MfaSessionOptions) {
    this.clusterSet = new Set(opts.clusters);
  }

  get clusters(): string[] {
    return [...this.clusterSet];
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** The valid certificate covering `cluster` (every opened cluster when omitted), if any. Cheap: called per request. */
  current(cluster?: string): MfaCredentials | undefined {
    const c = this.creds;
    if (!c || this.opts.clock.now() >= c.notAfter - (this.opts.expiryMarginMs ?? 1000)) return undefined;
    if (cluster !== undefined && !c.clusters.includes(cluster)) return undefined;
    return c;
  }

  /** The certificate as last granted, even if lapsed (for status). */
  get last(): MfaCredentials | undefined {
    return this.creds;
  }

  /**
   * Resolves with a valid certificate: at once if there is one, else after the tap. The request
   * (`conn`) shows as held meanwhile. Rejects with HoldError after holdTimeoutMs.
   */
  acquire(conn?: TrackedConnection, cluster?: string, signal?: AbortSignal): Promise<MfaCredentials> {
    const now = this.current(cluster);
    if (now) return Promise.resolve(now);
    if (cluster && !this.clusterSet.has(cluster)) this.clusterSet.add(cluster);
    return this.hold(conn, cluster, signal);
  }

  /** Asks for a tap now, even while the certificate is valid (joins a tap already asked for). */
  verifyNow(): Promise<MfaCredentials> {
    if (!this.flow) this.startFlow();
    return this.hold(undefined, undefined);
  }

  /** Whether a tap is being asked for right now. */
  get waiting(): boolean {
    return this.flow !== undefined;
  }

  /** The gate refused these credentials as lapsed (clock skew, a changed interval): stop using them. */
  rejected(c: MfaCredentials): void {
    if (this.creds === c) {
      this.creds = undefined;
      this.opts.onEvent?.('lapsed', 'the gate asked for a new tap (MFA certificate no longer accepted)');
      this.opts.onChange?.();
    }
  }

  /** Drops the certificate from memory; the next request asks for a tap. Live streams keep running. */
  forget(): void {
    if (!this.creds) return;
    this.creds = undefined;
    this.opts.onEvent?.('forgotten', 'MFA certificate forgotten; the next kubectl call asks for a tap');
    this.opts.onChange?.();
  }

  /** Gives up the tap asked for: held requests get an error now. */
  cancel(): Promise<void> {
    const f = this.flow;
    if (!f) return Promise.resolve();
    f.outcome = 'cancelled';
    f.abort.abort();
    return f.done;
  }

  pending(): { id?: string; tapUrl?: string; clusters: string[]; giveUpAt: number; held: TrackedConnection[] } | undefined {
    const f = this.flow;
    if (!f) return undefined;
    const held = [...this.waiters].flatMap((w) => (w.conn ? [w.conn] : []));
    return { id: f.id, tapUrl: f.tapUrl, clusters: f.clusters, giveUpAt: f.giveUpAt, held };
  }

  /** The pending tap as the agent's public types describe it (undefined until the gate has answered). */
  async pendingTap(): Promise<PendingTap | undefined> {
    const p = this.pending();
    if (!p?.id || !p.tapUrl) return undefined;
    const tracker = this.opts.tracker;
    const held: ConnectionInfo[] = tracker ? await Promise.all(p.held.map((c) => tracker.toInfo(c))) : [];
    return { id: p.id, tapUrl: p.tapUrl, clusters: p.clusters, giveUpAt: p.giveUpAt, held };
  }

  /** Ends everything: held requests fail, the pending MFA request is cancelled. */
  dispose(): void {
    void this.cancel();
    this.creds = undefined;
  }

  private hold(conn: TrackedConnection | undefined, cluster: string | undefined, signal?: AbortSignal): Promise<MfaCredentials> {
    return new Promise<MfaCredentials>((resolve, reject) => {
      const giveUp = (e: HoldError) => {
        if (!this.waiters.delete(w)) return;
        clearTimeout(w.timer);
        if (w.conn) this.opts.tracker?.setState(w.conn, 'active');
        reject(e);
        this.opts.onChange?.();
      };
      const w: Waiter = {
        conn,
        cluster,
        resolve,
        reject,
        timer: setTimeout(() => giveUp(new HoldError('timeout', this.waitingMessage(cluster))), this.opts.holdTimeoutMs),
      };
      // the client went away while held (Ctrl-C on kubectl)
      signal?.addEventListener('abort', () => giveUp(new HoldError('cancelled', 'the client closed the request')), { once: true });
      this.waiters.add(w);
      if (conn) this.opts.tracker?.setState(conn, 'held');
      if (this.flow) {
        this.extend(this.flow);
        void this.showPrompt();
      } else {
        this.startFlow();
      }
      this.opts.onChange?.();
    });
  }

  private waitingMessage(cluster: string | undefined, tapUrl = this.flow?.tapUrl): string {
    const where = tapUrl ? `tap at ${tapUrl}` : 'tap when asked';
    const what = cluster ?? this.clusters.join(', ');
    return `Tapgate is waiting for a security-key tap for cluster ${what}; ${where} or run \`tapgate kube verify\`, then retry`;
  }

  private extend(f: TapFlow): void {
    const giveUpAt = this.opts.clock.now() + this.opts.holdTimeoutMs;
    if (giveUpAt <= f.giveUpAt) return;
    f.giveUpAt = giveUpAt;
    clearTimeout(f.timer);
    f.timer = this.flowTimer(f);
  }

  private flowTimer(f: TapFlow): NodeJS.Timeout {
    const t = setTimeout(() => {
      f.outcome = 'timeout';
      f.abort.abort();
    }, Math.max(0, f.giveUpAt - this.opts.clock.now()));
    t.unref();
    return t;
  }

  private startFlow(): void {
    const f: TapFlow = {
      clusters: this.clusters,
      giveUpAt: this.opts.clock.now() + this.opts.holdTimeoutMs,
      abort: new AbortController(),
      timer: undefined as unknown as NodeJS.Timeout,
      done: Promise.resolve(),
    };
    f.timer = this.flowTimer(f);
    this.flow = f;
    f.done = this.runFlow(f).finally(() => {
      clearTimeout(f.timer);
      if (this.flow === f) this.flow = undefined;
      this.opts.onChange?.();
    });
  }

  private async runFlow(f: TapFlow): Promise<void> {
    const { issuer, prompt } = this.opts;
    this.lastError = undefined;
    try {
      const granted = await this.askAndWait(f);
      if (granted) {
        this.creds = granted;
        prompt.close('verified');
        const by = granted.cappedBy;
        const capped = by === 'requested' ? '' : ` (capped by ${by === 'interval' ? "your role's MFA interval" : by === 'login' ? 'your login session' : by})`;
        this.opts.onEvent?.('verified', `verified for ${f.clusters.join(', ')}: MFA certificate valid ${formatDuration(granted.ttlMs)}${capped}`);
        this.settle(f, (w) => w.resolve(granted), f.clusters);
        return;
      }
      if (f.id) void issuer.cancelMfaRequest(f.id).catch(() => {});
      const outcome = f.outcome ?? 'cancelled';
      prompt.close(outcome);
      if (outcome === 'cancelled') {
        this.opts.onEvent?.('tap-cancelled', 'tap request cancelled');
        this.settle(f, (w) => w.reject(new HoldError('cancelled', 'Tapgate: the security-key tap was cancelled; run the command again to be asked again')));
      } else {
        this.opts.onEvent?.('tap-cancelled', 'nobody tapped in time');
        this.settle(f, (w) => w.reject(new HoldError('timeout', this.waitingMessage(w.cluster, f.tapUrl))));
      }
    } catch (e) {
      if (f.id) void issuer.cancelMfaRequest(f.id).catch(() => {});
      const refused = codeOf(e) === 'mfa_denied' || codeOf(e) === 'mfa_cancelled';
      prompt.close(refused ? 'cancelled' : 'error');
      const login = isLoginProblem(e);
      const message = login
        ? `Tapgate: your login session has ended or is not valid (${describeError(e)}); run \`tapgate login\`, then retry`
        : refused
          ? `Tapgate: ${describeError(e)}; run the command again to be asked again`
          : `Tapgate could not ask for a security-key tap: ${describeError(e)}`;
      if (!refused) this.lastError = message;
      this.opts.onEvent?.(login ? 'login-expired' : refused ? 'tap-cancelled' : codeOf(e) === 'locked' ? 'locked' : 'error', message);
      this.settle(f, (w) => w.reject(new HoldError(login ? 'login' : refused ? 'cancelled' : 'failed', message)));
    }
  }

  /** Creates the MFA request, shows the prompt, waits for the tap. Undefined when the flow was aborted. */
  private async askAndWait(f: TapFlow): Promise<MfaCredentials | undefined> {
    const { issuer } = this.opts;
    const clock = this.opts.clock;
    for (;;) {
      const keys = await (this.opts.keygen ?? generateKeyPair)();
      const requester = { host: hostname(), process: this.opts.processName ?? 'tapgate agent', ...(await this.requesterCommand()) };
      const req = await issuer.createMfaRequest({ clusters: f.clusters, ttlMs: this.opts.ttlMs ?? ASK_FOR_MAX_MS, publicKeyPem: keys.publicKeyPem, requester });
      f.id = req.id;
      f.tapUrl = req.tapUrl;
      if (f.abort.signal.aborted) return undefined;
      await this.showPrompt();
      this.opts.onEvent?.('tap-needed', `tap needed for ${f.clusters.join(', ')}: ${req.tapUrl}`);
      this.opts.onChange?.();
      for (;;) {
        try {
          // a little past giveUpAt, so the flow's own timer (not the poll) decides the timeout
          const granted = await issuer.waitMfaRequest(req.id, { signal: f.abort.signal, timeoutMs: Math.max(1000, f.giveUpAt - clock.now()) + 5000 });
          return {
            certPem: granted.certPem,
            keyPem: keys.privateKeyPem,
            notAfter: typeof granted.notAfter === 'number' ? granted.notAfter : Date.parse(granted.notAfter),
            ttlMs: granted.ttlMs,
            cappedBy: granted.cappedBy,
            clusters: f.clusters,
            verifiedAt: clock.now(),
          };
        } catch (e) {
          if (f.abort.signal.aborted) return undefined;
          const code = codeOf(e);
          // more held requests arrived meanwhile and moved giveUpAt: keep waiting on the same tap page
          if (code === 'mfa_timeout' && clock.now() < f.giveUpAt) continue;
          // the tap page expired on the gate while requests still wait: ask again
          if (code === 'mfa_expired' && clock.now() < f.giveUpAt) break;
          throw e;
        }
      }
    }
  }

  /**
   * Ends the flow (synchronously, so a request arriving right after starts a fresh one) and
   * answers its waiters. On success, a waiter for a cluster the new certificate does not name
   * (it arrived during the tap) waits on for a tap that covers it.
   */
  private settle(f: TapFlow, fn: (w: Waiter) => void, covered?: string[]): void {
    clearTimeout(f.timer);
    if (this.flow === f) this.flow = undefined;
    let left = false;
    for (const w of this.waiters) {
      if (covered && w.cluster !== undefined && !covered.includes(w.cluster)) {
        left = true;
        continue;
      }
      this.waiters.delete(w);
      clearTimeout(w.timer);
      if (w.conn) this.opts.tracker?.setState(w.conn, 'active');
      fn(w);
    }
    if (left) this.startFlow();
  }

  private async showPrompt(): Promise<void> {
    const p = await this.pendingTap();
    if (p) this.opts.prompt.show(p);
  }

  /** What the tap page shows: the command of the first held request (looked up briefly). */
  private async requesterCommand(): Promise<{ command?: string }> {
    const first = [...this.waiters].find((w) => w.conn)?.conn;
    const tracker = this.opts.tracker;
    if (!first || !tracker) return {};
    const proc = await Promise.race([tracker.processOf(first), sleep(300, undefined, { ref: false })]);
    return { command: proc ? proc.command : first.info.summary };
  }
}

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function isLoginProblem(e: unknown): boolean {
  const status = (e as { status?: unknown })?.status;
  const code = (e as { code?: unknown })?.code;
  return status === 401 || (typeof code === 'string' && /login|unauthenticated|session/i.test(code));
}
