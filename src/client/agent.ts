import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { formatDuration } from '../core/duration';
import type { AgentControl, AgentEvent, AgentEventKind, AgentPush, AgentState, AgentStatus, ConnectionInfo, ExecCredential, PendingTap } from './agent-types';
import { GateClient } from './api-client';
import { ConnectionTracker } from './connection-tracker';
import { execCredential } from './exec-credential';
import { GateUpstream } from './gate-upstream';
import { LocalProxy } from './local-proxy';
import { MfaSession, type MfaIssuer } from './mfa-session';
import { loadProfile, requireLogin, tapgateHome, type LoginState } from './profile';
import { CliTapPrompt, type TapPrompt, type TapPromptCloseReason } from './tap-prompt';

/** Under this much MFA time left the agent says 'lapsing' (the tray warns). */
export const LAPSING_MS = 60_000;
const EVENT_RING = 200;
export const DEFAULT_HOLD_TIMEOUT_MS = 120_000;

export interface AgentOptions {
  /** clusters to open; default every cluster the user's roles allow */
  clusters?: string[];
  /** MFA ttl to ask for; default: the gate's interval (it caps whatever is asked) */
  ttlMs?: number;
  /** local proxy port; 0 = any free port */
  port?: number;
  holdTimeoutMs?: number;
  /** default ~/.tapgate/kube/<kubeconfigName>.yaml */
  kubeconfigPath?: string;
  kubeconfigName?: string;
  /** the gate kube listener; default $TAPGATE_KUBE_URL, else the API URL's host with the next port */
  kubeUrl?: string;
  /** the login to use instead of the saved one in TAPGATE_HOME (tests, `tapgate up`) */
  login?: LoginState;
  home?: string;
  /** where taps are asked for; default the terminal (prints the URL, opens the browser) */
  prompt?: TapPrompt;
  /** what the tap page names as the requesting program */
  processName?: string;
  clock?: Clock;
  /** for tests: a stand-in for the gate's MFA API */
  issuer?: MfaIssuer;
}

/**
 * The tray app's core, without the tray: the login, the local kube proxy with hold-and-tap, the
 * connection tracker, and the state the tray (or `tapgate kube status`) shows. Every public
 * method is also a control-socket method.
 */
export class Agent implements AgentControl {
  readonly tracker: ConnectionTracker;
  readonly session: MfaSession;
  private readonly clock: Clock;
  private readonly ring: AgentEvent[] = [];
  private readonly subscribers = new Set<(p: AgentPush) => void>();
  private readonly tapHooks = new Set<(p: PendingTap) => void>();
  private prompt: TapPrompt;
  private proxy!: LocalProxy;
  private upstream!: GateUpstream;
  private client: GateClient;
  private timer: NodeJS.Timeout | undefined;
  private connTimer: NodeJS.Timeout | undefined;
  private statusQueued = false;
  private lapseAnnounced: number | undefined;
  private loginAnnounced = false;
  private lastLoginPem: string;
  private closed = false;

  private constructor(
    private login: LoginState,
    readonly clusters: string[],
    private readonly opts: AgentOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.prompt = opts.prompt ?? new CliTapPrompt();
    this.client = clientFor(login);
    this.lastLoginPem = login.certPem;
    this.tracker = new ConnectionTracker(() => this.clock.now());
    const forward: TapPrompt = {
      show: (p) => {
        this.prompt.show(p);
        for (const h of this.tapHooks) h(p);
      },
      close: (reason: TapPromptCloseReason) => this.prompt.close(reason),
    };
    this.session = new MfaSession({
      issuer: opts.issuer ?? this.issuer(),
      prompt: forward,
      clusters,
      ttlMs: opts.ttlMs,
      holdTimeoutMs: opts.holdTimeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS,
      clock: this.clock,
      tracker: this.tracker,
      processName: opts.processName ?? 'tapgate agent',
      onEvent: (kind, message) => {
        this.event(kind, message);
        // open the gate connection for the new certificate before the next request needs it
        const now = kind === 'verified' ? this.session?.current() : undefined;
        if (now && this.upstream) this.upstream.warm(now);
      },
      onChange: () => this.stateChanged(),
    });
  }

  /** Loads the login, decides the clusters, starts the local proxy and writes its kubeconfig. */
  static async start(opts: AgentOptions = {}): Promise<Agent> {
    const clock = opts.clock ?? systemClock;
    const login = opts.login ?? requireLogin(opts.home ?? tapgateHome(), clock.now());
    let clusters = opts.clusters?.filter(Boolean) ?? [];
    let gateKubeUrl: string | undefined;
    if (!clusters.length || !(opts.kubeUrl ?? process.env.TAPGATE_KUBE_URL)) {
      const client = clientFor(login);
      try {
        const info = await client.clusterInfo();
        gateKubeUrl = info.kubeUrl;
        if (!clusters.length) clusters = info.clusters.map((c) => c.name);
      } finally {
        await client.close();
      }
      if (!clusters.length) {
        throw new TapgateError('no_clusters', `the gate at ${login.profile.server} lets ${login.profile.user} open no clusters; ask an administrator for a role with kube_clusters`);
      }
    }
    const agent = new Agent(login, clusters, opts);
    const kubeUrl = opts.kubeUrl ?? process.env.TAPGATE_KUBE_URL ?? gateKubeUrl ?? defaultKubeUrl(login.profile.server);
    agent.upstream = new GateUpstream({ kubeUrl, caPem: login.profile.caPem });
    const home = opts.home ?? tapgateHome();
    agent.proxy = await LocalProxy.start({
      clusters,
      session: agent.session,
      upstream: agent.upstream,
      tracker: agent.tracker,
      port: opts.port,
      kubeconfigPath: opts.kubeconfigPath ?? (opts.kubeconfigName ? join(home, 'kube', `${opts.kubeconfigName}.yaml`) : undefined),
      onGateRefusal: (status, reason, message) => {
        if (status === 403 && /locked/i.test(message)) agent.event('locked', message);
        else if (reason !== 'MFARequired' && status === 401) agent.event('error', message);
      },
    });
    agent.tracker.onChange(() => agent.pushConnections());
    agent.schedule();
    return agent;
  }

  get kubeconfigPath(): string {
    return this.proxy.kubeconfigPath;
  }

  get proxyUrl(): string {
    return this.proxy.url;
  }

  get kubeUrl(): string {
    return this.upstream.origin;
  }

  get contexts(): { name: string; context: string }[] {
    return this.proxy.contexts;
  }

  /** Where taps are asked for from now on (the tray plugs in its window). */
  setPrompt(prompt: TapPrompt): void {
    this.prompt = prompt;
  }

  /** Called whenever a tap is asked for (and again when the held list changes). */
  onTapNeeded(hook: (p: PendingTap) => void): () => void {
    this.tapHooks.add(hook);
    return () => this.tapHooks.delete(hook);
  }

  subscribe(listener: (p: AgentPush) => void): () => void {
    this.subscribers.add(listener);
    this.pushConnectionsSoon();
    return () => this.subscribers.delete(listener);
  }

  // ---- AgentControl ----

  async status(): Promise<AgentStatus> {
    this.checkTransitions();
    const now = this.clock.now();
    const last = this.session.last;
    const valid = this.session.current();
    const pendingTap = await this.session.pendingTap();
    const p = this.login.profile;
    let state: AgentState;
    let error: string | undefined;
    if (this.session.waiting) state = 'waiting-for-tap';
    else if (valid) state = valid.notAfter - now <= LAPSING_MS ? 'lapsing' : 'verified';
    else if (p.loginExpires <= now) {
      state = 'no-session';
      error = `your login session ended; run \`tapgate login\``;
    } else if (this.session.error) {
      state = /tapgate login/.test(this.session.error) ? 'no-session' : 'error';
      error = this.session.error;
    } else state = 'no-session';
    const s: AgentStatus = {
      state,
      server: p.server,
      user: p.user,
      loginExpires: p.loginExpires,
      clusters: this.proxy.contexts,
      kubeconfigPath: this.proxy.kubeconfigPath,
      proxyUrl: this.proxy.url,
      now,
    };
    if (last) {
      s.mfaExpires = last.notAfter;
      s.mfaTtlMs = last.ttlMs;
    }
    if (pendingTap) s.pendingTap = pendingTap;
    if (error) s.error = error;
    return s;
  }

  connections(): Promise<ConnectionInfo[]> {
    return this.tracker.list();
  }

  async events(): Promise<AgentEvent[]> {
    return [...this.ring];
  }

  /** Asks for a tap now; resolves once the tap is being asked for (not when it is done). */
  async verifyNow(): Promise<AgentStatus> {
    this.session.verifyNow().catch(() => {});
    await this.untilPending();
    return this.status();
  }

  async forgetMfa(): Promise<AgentStatus> {
    this.session.forget();
    return this.status();
  }

  async disconnect(params: { id: string }): Promise<{ disconnected: boolean }> {
    return { disconnected: this.tracker.disconnect(params.id) };
  }

  async cancelTap(): Promise<AgentStatus> {
    await this.session.cancel();
    return this.status();
  }

  /** The exec plugin's credential, from the in-memory MFA certificate (a tap only when there is none). */
  async credentials(params: { cluster: string; ttlMs?: number }): Promise<ExecCredential> {
    if (typeof params?.cluster !== 'string' || !params.cluster) throw new TapgateError('bad_request', 'credentials needs a cluster name');
    const creds = await this.session.acquire(undefined, params.cluster);
    return execCredential({ certPem: creds.certPem, keyPem: creds.keyPem, notAfter: creds.notAfter, now: this.clock.now(), ttlMs: params.ttlMs });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.connTimer);
    this.session.dispose();
    this.tracker.dispose();
    await this.proxy?.close();
    this.upstream?.close();
    await this.client.close().catch(() => {});
    this.subscribers.clear();
  }

  // ---- internals ----

  /** The gate's MFA API with the login reloaded when `tapgate login` ran meanwhile. */
  private issuer(): MfaIssuer {
    return {
      createMfaRequest: async (r) => {
        this.reloadLogin();
        return this.client.createMfaRequest(r);
      },
      waitMfaRequest: (id, o) => this.client.waitMfaRequest(id, o),
      cancelMfaRequest: (id) => this.client.cancelMfaRequest(id),
    };
  }

  private reloadLogin(): void {
    if (this.opts.login) return;
    let fresh: LoginState | undefined;
    try {
      fresh = loadProfile(this.opts.home ?? tapgateHome());
    } catch {
      return;
    }
    if (!fresh || fresh.certPem === this.lastLoginPem || fresh.profile.server !== this.login.profile.server) return;
    void this.client.close().catch(() => {});
    this.login = fresh;
    this.lastLoginPem = fresh.certPem;
    this.client = clientFor(fresh);
    this.loginAnnounced = false;
  }

  private event(kind: AgentEventKind, message: string): void {
    const e: AgentEvent = { kind, at: this.clock.now(), message };
    this.ring.push(e);
    if (this.ring.length > EVENT_RING) this.ring.shift();
    this.push({ event: 'event', data: e });
    if (kind === 'verified') this.lapseAnnounced = undefined;
  }

  private stateChanged(): void {
    this.schedule();
    this.pushStatusSoon();
  }

  private push(p: AgentPush): void {
    for (const l of this.subscribers) {
      try {
        l(p);
      } catch {
        // a subscriber's problem is not the agent's
      }
    }
  }

  private pushStatusSoon(): void {
    if (this.statusQueued || !this.subscribers.size) return;
    this.statusQueued = true;
    setImmediate(() => {
      this.statusQueued = false;
      if (this.closed || !this.subscribers.size) return;
      void this.status().then((s) => this.push({ event: 'status', data: s }));
    });
  }

  private pushConnections(): void {
    if (this.closed || !this.subscribers.size) return;
    void this.tracker.list().then((c) => this.push({ event: 'connections', data: c }));
    this.pushConnectionsSoon();
  }

  /** While someone watches and streams are live, byte counters move: refresh every second. */
  private pushConnectionsSoon(): void {
    if (this.connTimer || !this.subscribers.size) return;
    this.connTimer = setInterval(() => {
      if (!this.subscribers.size || this.closed) {
        clearInterval(this.connTimer);
        this.connTimer = undefined;
        return;
      }
      if (this.tracker.size) void this.tracker.list().then((c) => this.push({ event: 'connections', data: c }));
    }, 1000);
    this.connTimer.unref();
  }

  /** Lapse and login-end events, announced once each. */
  private checkTransitions(): void {
    const now = this.clock.now();
    const last = this.session.last;
    if (last && now >= last.notAfter && this.lapseAnnounced !== last.notAfter) {
      this.lapseAnnounced = last.notAfter;
      this.event('lapsed', `MFA lapsed after ${formatDuration(last.ttlMs)}; the next kubectl call asks for a tap (live streams keep running)`);
    }
    if (this.login.profile.loginExpires <= now && !this.loginAnnounced) {
      this.loginAnnounced = true;
      this.event('login-expired', 'your login session ended; run `tapgate login`');
    }
  }

  /** One timer, set for the next moment the state changes by itself (lapsing, lapsed, login end). */
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    const now = this.clock.now();
    const moments = [this.login.profile.loginExpires];
    const last = this.session.last;
    if (last) moments.push(last.notAfter - LAPSING_MS, last.notAfter, last.notAfter - 1000);
    const next = moments.filter((t) => t > now).sort((a, b) => a - b)[0];
    if (next === undefined) return;
    this.timer = setTimeout(() => {
      this.checkTransitions();
      this.stateChanged();
    }, Math.min(next - now + 5, 2 ** 31 - 1));
    this.timer.unref();
  }

  private async untilPending(): Promise<void> {
    for (let i = 0; i < 200 && this.session.waiting && !this.session.pending()?.tapUrl; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

function clientFor(login: LoginState): GateClient {
  return new GateClient({ server: login.profile.server, caPem: login.profile.caPem, certPem: login.certPem, keyPem: login.keyPem });
}

/** Where to reach the gate's kube listener: asked for, else $TAPGATE_KUBE_URL, else what the gate says. */
export async function resolveKubeUrl(login: LoginState, asked?: string): Promise<string> {
  const explicit = asked ?? process.env.TAPGATE_KUBE_URL;
  if (explicit) return explicit.replace(/\/+$/, '');
  const client = clientFor(login);
  try {
    return (await client.clusterInfo()).kubeUrl ?? defaultKubeUrl(login.profile.server);
  } finally {
    await client.close();
  }
}

/** For gates that do not say where their kube listener is: the API's host, the next port (3025 → 3026, the defaults). */
export function defaultKubeUrl(server: string): string {
  const u = new URL(server);
  u.port = String(Number(u.port || 443) + 1);
  return u.origin;
}
