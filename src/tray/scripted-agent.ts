import type { AgentEvent, AgentPush, AgentStatus, ConnectionInfo, ExecCredential } from '../client/agent-types';
import type { AgentSource } from './agent-source';

/**
 * An in-memory agent for unit tests of the tray's own modules: its state is set by the test,
 * every control call is recorded. (The UI tests use the real agent and gate.)
 */
export class ScriptedAgent implements AgentSource {
  readonly calls: string[] = [];
  private readonly listeners = new Set<(p: AgentPush) => void>();
  eventLog: AgentEvent[] = [];
  conns: ConnectionInfo[] = [];

  constructor(public s: AgentStatus) {}

  subscribe(l: (p: AgentPush) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  push(p: AgentPush): void {
    if (p.event === 'status') this.s = p.data;
    if (p.event === 'connections') this.conns = p.data;
    if (p.event === 'event') this.eventLog.push(p.data);
    for (const l of this.listeners) l(p);
  }

  async status(): Promise<AgentStatus> {
    return this.s;
  }
  async connections(): Promise<ConnectionInfo[]> {
    return this.conns;
  }
  async events(): Promise<AgentEvent[]> {
    return this.eventLog;
  }
  async verifyNow(): Promise<AgentStatus> {
    this.calls.push('verifyNow');
    return this.s;
  }
  async forgetMfa(): Promise<AgentStatus> {
    this.calls.push('forgetMfa');
    return this.s;
  }
  async disconnect(p: { id: string }): Promise<{ disconnected: boolean }> {
    this.calls.push(`disconnect ${p.id}`);
    const had = this.conns.some((c) => c.id === p.id);
    if (had) this.push({ event: 'connections', data: this.conns.filter((c) => c.id !== p.id) });
    return { disconnected: had };
  }
  async cancelTap(): Promise<AgentStatus> {
    this.calls.push('cancelTap');
    return this.s;
  }
  async credentials(): Promise<ExecCredential> {
    throw new Error('ScriptedAgent issues no credentials');
  }
}
