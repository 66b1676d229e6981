import type { AgentEvent, AgentPush, AgentStatus, ConnectionInfo, ExecCredential } from '../client/agent-types';
import type { LoginState } from '../client/profile';
import type { Clock } from '../core/clock';
import { describeError, TapgateError } from '../core/errors';
import type { AgentSource } from './agent-source';

export interface HostedAgent extends AgentSource {
  close(): Promise<void>;
}

export interface AgentHostOptions {
  /** the saved login, undefined when there is none (throws when it is damaged) */
  loadLogin(): LoginState | undefined;
  startAgent(login: LoginState): Promise<HostedAgent>;
  /** the gate to name while there is no login */
  server(): string | undefined;
  clock: Clock;
  log(line: string): void;
}

/**
 * Keeps one agent running for the tray across the things that replace it: the first login, a
 * new `tapgate login`, a switch of gate. Windows and the tray talk to the host, which looks like
 * an agent that is always there (with state 'no-session' or 'error' while none can run).
 */
export class AgentHost implements AgentSource {
  private current: HostedAgent | undefined;
  private unsubscribe: (() => void) | undefined;
  private loginPem: string | undefined;
  private problem: string | undefined;
  private starting: Promise<void> | undefined;
  private readonly listeners = new Set<(p: AgentPush) => void>();

  constructor(private readonly o: AgentHostOptions) {}

  get running(): HostedAgent | undefined {
    return this.current;
  }

  /** Starts (or restarts) the agent when the saved login is new; safe to call whenever files change. */
  reload(): Promise<void> {
    this.starting ??= this.doReload().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async doReload(): Promise<void> {
    let login: LoginState | undefined;
    try {
      login = this.o.loadLogin();
    } catch (e) {
      return this.stopWith(describeError(e));
    }
    if (!login) return this.stopWith(undefined);
    if (login.certPem === this.loginPem && this.current) return;
    await this.stop();
    try {
      const agent = await this.o.startAgent(login);
      this.current = agent;
      this.loginPem = login.certPem;
      this.problem = undefined;
      this.unsubscribe = agent.subscribe((p) => this.emit(p));
      this.o.log(`agent started for ${login.profile.user} at ${login.profile.server}`);
    } catch (e) {
      this.problem = `could not start: ${describeError(e)}`;
      this.o.log(`agent ${this.problem}`);
    }
    await this.pushStatus();
  }

  private async stopWith(problem: string | undefined): Promise<void> {
    await this.stop();
    this.problem = problem;
    await this.pushStatus();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const a = this.current;
    this.current = undefined;
    this.loginPem = undefined;
    await a?.close().catch((e) => this.o.log(`agent close: ${describeError(e)}`));
  }

  subscribe(listener: (p: AgentPush) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(p: AgentPush): void {
    for (const l of this.listeners) l(p);
  }

  private async pushStatus(): Promise<void> {
    this.emit({ event: 'status', data: await this.status() });
    this.emit({ event: 'connections', data: await this.connections() });
  }

  async status(): Promise<AgentStatus> {
    if (this.current) return this.current.status();
    const s: AgentStatus = { state: this.problem ? 'error' : 'no-session', server: this.o.server() ?? '', clusters: [], now: this.o.clock.now() };
    if (this.problem) s.error = this.problem;
    return s;
  }

  async connections(): Promise<ConnectionInfo[]> {
    return this.current ? this.current.connections() : [];
  }

  async events(): Promise<AgentEvent[]> {
    return this.current ? this.current.events() : [];
  }

  async verifyNow(): Promise<AgentStatus> {
    if (!this.current) await this.reload();
    return this.need().verifyNow();
  }

  async forgetMfa(): Promise<AgentStatus> {
    return this.current ? this.current.forgetMfa() : this.status();
  }

  async disconnect(params: { id: string }): Promise<{ disconnected: boolean }> {
    return this.current ? this.current.disconnect(params) : { disconnected: false };
  }

  async cancelTap(): Promise<AgentStatus> {
    return this.current ? this.current.cancelTap() : this.status();
  }

  async credentials(params: { cluster: string; ttlMs?: number }): Promise<ExecCredential> {
    return this.need().credentials(params);
  }

  private need(): HostedAgent {
    if (this.current) return this.current;
    if (this.problem) throw new TapgateError('agent_down', `Tapgate ${this.problem}`);
    const server = this.o.server();
    throw new TapgateError('not_logged_in', `log in first: run \`tapgate login --server ${server ?? 'https://<gate>'}\` in a terminal`);
  }
}
