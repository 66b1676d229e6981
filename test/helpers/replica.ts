/**
 * Gate replicas in child processes (replica-process.ts) and the bot calls the replica tests and
 * the replica benchmark make against them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { ReplicaCommand, ReplicaMessage } from './replica-process';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const CHILD = fileURLToPath(new URL('./replica-process.ts', import.meta.url));

/** A gate replica in its own process, so a SIGKILL is a real crash. */
export class Replica {
  private nextId = 1;
  private readonly pending = new Map<number, (m: Extract<ReplicaMessage, { type: 'reply' }>) => void>();
  readonly exited: Promise<number | string | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly apiUrl: string,
    readonly kubeUrl: string,
    readonly caPem: string,
  ) {
    child.on('message', (m: ReplicaMessage) => {
      if (m.type === 'reply') this.pending.get(m.id)?.(m);
    });
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r(signal ?? code)));
  }

  /** Starts a gate with this tapgate.yaml content (listen ports 0 pick free ones). */
  static start(config: Record<string, unknown>, opts: { execArgv?: string[] } = {}): Promise<Replica> {
    const child = fork(CHILD, [], {
      execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
      env: { ...process.env, TAPGATE_REPLICA_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('replica did not start within 60 s'));
      }, 60_000);
      child.once('exit', (code) => reject(new Error(`replica exited with ${code} before it was ready`)));
      child.once('message', (m: ReplicaMessage) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve(new Replica(child, m.apiUrl, m.kubeUrl, m.caPem));
      });
    });
  }

  private async command(c: DistributiveOmit<ReplicaCommand, 'id'>): Promise<unknown> {
    const id = this.nextId++;
    const reply = new Promise<Extract<ReplicaMessage, { type: 'reply' }>>((r) => this.pending.set(id, r));
    this.child.send({ id, ...c });
    const m = await reply;
    this.pending.delete(id);
    if (m.error) throw new Error(m.error);
    return m.result;
  }

  /** Creates a lock through this replica (its store handle and its notification). */
  lock(c: Omit<Extract<ReplicaCommand, { cmd: 'lock' }>, 'id' | 'cmd'>): Promise<unknown> {
    return this.command({ cmd: 'lock', ...c });
  }

  /** CPU time the replica process has used so far, in microseconds. */
  async cpuMicros(): Promise<number> {
    const u = (await this.command({ cmd: 'cpu' })) as NodeJS.CpuUsage;
    return u.user + u.system;
  }

  /** A full garbage collection in the replica (before a memory reading). */
  async gc(): Promise<void> {
    await this.command({ cmd: 'gc' });
  }

  /** Profiles the replica's CPU until profileStop writes the .cpuprofile (bench diagnostics). */
  async profileStart(): Promise<void> {
    await this.command({ cmd: 'profile-start' });
  }

  async profileStop(path: string): Promise<void> {
    await this.command({ cmd: 'profile-stop', path });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

export interface BotKey {
  publicKey: string;
  privateKey: string;
}

export function newBotKey(): BotKey {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicKey: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKey: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export type BotCreds = { certPem: string; generation: number; instanceId: string };
export type Answer = { status: number; body: Record<string, unknown> };

/** HTTPS calls to replicas, trusting their CA; one connection pool per presented certificate. */
export class BotClient {
  private readonly agents = new Set<Agent>();

  private agent(r: Replica, cert?: { certPem: string; key: BotKey }): Agent {
    const ag = new Agent({ connect: { ca: r.caPem, ...(cert ? { cert: cert.certPem, key: cert.key.privateKey } : {}) } });
    this.agents.add(ag);
    return ag;
  }

  async call(r: Replica, method: 'GET' | 'POST', path: string, body?: unknown, cert?: { certPem: string; key: BotKey }): Promise<Answer> {
    const dispatcher = this.agent(r, cert);
    try {
      const res = await request(`${r.apiUrl}${path}`, {
        method,
        dispatcher,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    } finally {
      this.agents.delete(dispatcher);
      void dispatcher.close();
    }
  }

  join(r: Replica, token: string, key: BotKey): Promise<Answer> {
    return this.call(r, 'POST', '/v1/bots/join', { token, publicKey: key.publicKey });
  }

  renew(r: Replica, creds: { certPem: string }, key: BotKey): Promise<Answer> {
    return this.call(r, 'POST', '/v1/bots/renew', { publicKey: key.publicKey }, { certPem: creds.certPem, key });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.agents].map((a) => a.close()));
  }
}
