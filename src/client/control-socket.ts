import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { homedir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { describeError, TapgateError } from '../core/errors';
import type { AgentControl, AgentEvent, AgentPush, AgentStatus, ConnectionInfo, ExecCredential } from './agent-types';

/**
 * The agent's control socket: a unix socket (0600, in a 0700 directory) or a named pipe on
 * Windows, speaking newline-delimited JSON:
 *   → {"id": 1, "method": "status", "params": {}}
 *   ← {"id": 1, "result": {...}}   or   {"id": 1, "error": {"code": "...", "message": "..."}}
 * `subscribe` answers once, then streams {"event": "status"|"connections"|"event", "data": ...}.
 */

/** Where the agent listens: $TAPGATE_AGENT_SOCKET, else $TAPGATE_HOME/agent.sock, else $XDG_RUNTIME_DIR/tapgate/agent.sock, else ~/.tapgate/agent.sock. */
export function controlSocketPath(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.TAPGATE_AGENT_SOCKET) return env.TAPGATE_AGENT_SOCKET;
  if (platform === 'win32') return `\\\\.\\pipe\\tapgate-agent-${safeUser()}`;
  if (env.TAPGATE_HOME) return join(env.TAPGATE_HOME, 'agent.sock');
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'tapgate', 'agent.sock');
  return join(homedir(), '.tapgate', 'agent.sock');
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9._-]/g, '_');
  } catch {
    return 'user';
  }
}

/** What the control socket serves: the agent's methods plus pushed updates. */
export interface ControlTarget extends AgentControl {
  subscribe(listener: (p: AgentPush) => void): () => void;
}

const MAX_LINE = 1024 * 1024;

const requestSchema = z.object({
  id: z.union([z.number(), z.string()]),
  method: z.string(),
  params: z.unknown().optional(),
});

const paramSchemas = {
  status: z.unknown(),
  connections: z.unknown(),
  events: z.unknown(),
  verifyNow: z.unknown(),
  forgetMfa: z.unknown(),
  cancelTap: z.unknown(),
  disconnect: z.object({ id: z.string().min(1) }),
  credentials: z.object({ cluster: z.string().min(1), ttlMs: z.number().int().positive().optional() }),
};
type MethodName = keyof typeof paramSchemas;

export class ControlServer {
  private readonly clients = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  /** Listens at `path`; a stale socket is replaced, a live one (another agent) is an error. */
  static async listen(target: ControlTarget, path = controlSocketPath()): Promise<ControlServer> {
    const unix = !path.startsWith('\\\\');
    if (unix) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      if (existsSync(path)) {
        if (await isLive(path)) throw anotherAgent(path);
        unlinkSync(path);
      }
    }
    const server = net.createServer();
    const cs = new ControlServer(server, path);
    server.on('connection', (socket) => cs.serve(target, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? anotherAgent(path) : e));
      // owner-only from the first moment (no window between listen and chmod)
      const old = unix ? process.umask(0o177) : 0;
      server.listen(path, () => {
        if (unix) process.umask(old);
        resolve();
      });
      if (unix) process.umask(old);
    });
    if (unix) chmodSync(path, 0o600);
    return cs;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    if (!this.path.startsWith('\\\\')) {
      try {
        unlinkSync(this.path);
      } catch {
        // gone already
      }
    }
  }

  private serve(target: ControlTarget, socket: net.Socket): void {
    this.clients.add(socket);
    let unsubscribe: (() => void) | undefined;
    socket.once('close', () => {
      this.clients.delete(socket);
      unsubscribe?.();
    });
    socket.on('error', () => {});
    const send = (msg: unknown) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(msg)}\n`);
    };
    readLines(socket, async (line) => {
      let req: z.infer<typeof requestSchema>;
      try {
        req = requestSchema.parse(JSON.parse(line));
      } catch {
        send({ id: null, error: { code: 'bad_request', message: 'expected one JSON object {id, method, params} per line' } });
        return;
      }
      try {
        if (req.method === 'subscribe') {
          unsubscribe ??= target.subscribe((p) => send(p));
          send({ id: req.id, result: { subscribed: true } });
          return;
        }
        if (!(req.method in paramSchemas)) throw new TapgateError('unknown_method', `unknown method "${req.method}"; known: subscribe, ${Object.keys(paramSchemas).join(', ')}`);
        const method = req.method as MethodName;
        const parsed = paramSchemas[method].safeParse(req.params ?? {});
        if (!parsed.success) throw new TapgateError('bad_params', `${method}: ${parsed.error.issues[0]?.path.join('.') || 'params'}: ${parsed.error.issues[0]?.message}`);
        const fn = target[method] as (p: unknown) => Promise<unknown>;
        send({ id: req.id, result: await fn.call(target, parsed.data) });
      } catch (e) {
        send({ id: req.id, error: { code: e instanceof TapgateError ? e.code : 'error', message: describeError(e) } });
      }
    });
  }
}

function anotherAgent(path: string): TapgateError {
  return new TapgateError(
    'agent_running',
    `another tapgate agent is already running (its control socket is ${path}); use \`tapgate kube status\` to see it, or stop it first`,
  );
}

/** Whether something answers on the socket (a running agent) rather than a file left by a crash. */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function readLines(socket: net.Socket, onLine: (line: string) => void | Promise<void>): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) void onLine(line);
    }
    if (buf.length > MAX_LINE) socket.destroy();
  });
}

// order matters: `result: unknown` would also match an error line
const responseSchema = z.union([
  z.object({ id: z.union([z.number(), z.string(), z.null()]), error: z.object({ code: z.string(), message: z.string() }) }),
  z.object({ event: z.enum(['status', 'connections', 'event']), data: z.unknown() }),
  z.object({ id: z.union([z.number(), z.string(), z.null()]), result: z.unknown() }),
]);

/** A client of a running agent's control socket (the CLI, the exec plugin, a tray talking to `tapgate agent`). */
export class ControlClient implements ControlTarget {
  private seq = 0;
  private readonly calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Set<(p: AgentPush) => void>();
  private subscribed = false;

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
  ) {
    readLines(socket, (line) => this.onLine(line));
    socket.on('error', () => {});
    socket.once('close', () => {
      for (const c of this.calls.values()) c.reject(new TapgateError('agent_gone', 'the tapgate agent closed the control connection'));
      this.calls.clear();
    });
  }

  /** Connects to the running agent; a TapgateError 'no_agent' when none runs. */
  static connect(path = controlSocketPath()): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once('connect', () => resolve(new ControlClient(s, path)));
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? new TapgateError('no_agent', `no tapgate agent is running (nothing answers at ${path}); start one with \`tapgate agent\``)
            : e,
        ),
      );
    });
  }

  /** The running agent, or undefined when there is none. */
  static async tryConnect(path = controlSocketPath()): Promise<ControlClient | undefined> {
    try {
      return await ControlClient.connect(path);
    } catch (e) {
      if (e instanceof TapgateError && e.code === 'no_agent') return undefined;
      throw e;
    }
  }

  call<T>(method: string, params?: unknown): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new TapgateError('agent_gone', 'the control connection to the tapgate agent is closed'));
        return;
      }
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(`${JSON.stringify({ id, method, params: params ?? {} })}\n`);
    });
  }

  status(): Promise<AgentStatus> {
    return this.call('status');
  }
  connections(): Promise<ConnectionInfo[]> {
    return this.call('connections');
  }
  events(): Promise<AgentEvent[]> {
    return this.call('events');
  }
  verifyNow(): Promise<AgentStatus> {
    return this.call('verifyNow');
  }
  forgetMfa(): Promise<AgentStatus> {
    return this.call('forgetMfa');
  }
  disconnect(params: { id: string }): Promise<{ disconnected: boolean }> {
    return this.call('disconnect', params);
  }
  cancelTap(): Promise<AgentStatus> {
    return this.call('cancelTap');
  }
  credentials(params: { cluster: string; ttlMs?: number }): Promise<ExecCredential> {
    return this.call('credentials', params);
  }

  subscribe(listener: (p: AgentPush) => void): () => void {
    this.listeners.add(listener);
    if (!this.subscribed) {
      this.subscribed = true;
      this.call('subscribe').catch(() => {});
    }
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private onLine(line: string): void {
    let msg: z.infer<typeof responseSchema>;
    try {
      msg = responseSchema.parse(JSON.parse(line));
    } catch {
      return;
    }
    if ('event' in msg) {
      for (const l of this.listeners) l(msg as AgentPush);
      return;
    }
    const call = typeof msg.id === 'number' ? this.calls.get(msg.id) : undefined;
    if (!call) return;
    this.calls.delete(msg.id as number);
    if ('error' in msg) call.reject(new TapgateError(msg.error.code, msg.error.message));
    else call.resolve(msg.result);
  }
}
