import type { ClientProcess, ConnectionInfo } from './agent-types';
import { describeKubeRequest, type KubeRequestInfo } from './kube-request';
import { findPeerProcess } from './peer-process';

/** The TCP connection a request arrived on: the process behind it is looked up once, on demand. */
export interface ClientSocketInfo {
  remotePort?: number;
  localPort?: number;
}

type ProcessLookup = (peerPort: number, localPort: number) => Promise<ClientProcess | undefined>;

/**
 * One request or stream through the local proxy. Kept small and lazy: the summary and the client
 * process are only worked out when someone lists connections.
 */
export class TrackedConnection {
  bytesIn = 0;
  bytesOut = 0;
  state: 'active' | 'held' = 'active';
  /** ends the stream (both sides) when the user disconnects it */
  onDisconnect?: () => void;
  private described?: KubeRequestInfo;

  constructor(
    readonly id: string,
    readonly cluster: string,
    readonly method: string,
    /** kube path with query, after /k/<cluster> */
    readonly path: string,
    readonly upgrade: boolean,
    readonly startedAt: number,
    /** identifies the TCP connection (the socket, or the HTTP/2 session) */
    readonly connKey: object,
    readonly socket: ClientSocketInfo,
  ) {}

  get info(): KubeRequestInfo {
    return (this.described ??= describeKubeRequest(this.method, this.path, this.upgrade));
  }
}

export class ConnectionTracker {
  private readonly live = new Map<string, TrackedConnection>();
  private readonly processes = new WeakMap<object, Promise<ClientProcess | undefined>>();
  private readonly listeners = new Set<() => void>();
  private seq = 0;
  private notifyTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly lookup: ProcessLookup = findPeerProcess,
    /** how often at most change notifications go out */
    private readonly notifyEveryMs = 250,
  ) {}

  open(cluster: string, method: string, path: string, upgrade: boolean, connKey: object, socket: ClientSocketInfo): TrackedConnection {
    const c = new TrackedConnection(`c${++this.seq}`, cluster, method, path, upgrade, this.now(), connKey, socket);
    this.live.set(c.id, c);
    if (this.listeners.size) this.changed();
    return c;
  }

  close(c: TrackedConnection): void {
    if (this.live.delete(c.id) && this.listeners.size) this.changed();
  }

  setState(c: TrackedConnection, state: 'active' | 'held'): void {
    c.state = state;
    if (this.listeners.size) this.changed();
  }

  get size(): number {
    return this.live.size;
  }

  get(id: string): TrackedConnection | undefined {
    return this.live.get(id);
  }

  /** Ends a live stream or request; false when there is no such connection. */
  disconnect(id: string): boolean {
    const c = this.live.get(id);
    if (!c) return false;
    c.onDisconnect?.();
    this.close(c);
    return true;
  }

  /** The client process of a connection, looked up once per TCP connection. */
  processOf(c: TrackedConnection): Promise<ClientProcess | undefined> {
    let p = this.processes.get(c.connKey);
    if (!p) {
      const { remotePort, localPort } = c.socket;
      p = remotePort && localPort ? this.lookup(remotePort, localPort) : Promise.resolve(undefined);
      this.processes.set(c.connKey, p);
    }
    return p;
  }

  async toInfo(c: TrackedConnection): Promise<ConnectionInfo> {
    const process = await this.processOf(c);
    const { kind, summary } = c.info;
    const info: ConnectionInfo = { id: c.id, cluster: c.cluster, kind, summary, startedAt: c.startedAt, bytesIn: c.bytesIn, bytesOut: c.bytesOut, state: c.state };
    if (process) info.process = process;
    return info;
  }

  async list(filter?: (c: TrackedConnection) => boolean): Promise<ConnectionInfo[]> {
    const all = [...this.live.values()].filter((c) => !filter || filter(c));
    return Promise.all(all.map((c) => this.toInfo(c)));
  }

  /** Called (at most every notifyEveryMs) after connections opened, closed or changed state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    clearTimeout(this.notifyTimer);
    this.listeners.clear();
  }

  private changed(): void {
    if (this.notifyTimer) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = undefined;
      for (const l of this.listeners) l();
    }, this.notifyEveryMs);
    this.notifyTimer.unref();
  }
}
