import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * One tray per user. Electron's own lock (app.requestSingleInstanceLock) catches a second launch
 * of the app — that is how the OS delivers deep links on Windows and Linux. The launch socket
 * covers everything else: `tapgate open` and IDE tasks reach the running tray in milliseconds
 * without starting a second Electron, and the headless agent can answer there too.
 */

/** The slice of Electron's `app` this needs. */
export interface InstanceLock {
  requestSingleInstanceLock(): boolean;
  on(event: 'second-instance', listener: (event: unknown, argv: string[], workingDirectory: string) => void): unknown;
}

/**
 * Takes the lock. The first instance gets true and from then on receives every later launch's
 * arguments (without the executable); a second instance gets false and must quit, its argv
 * already handed to the first by Electron.
 */
export function claimSingleInstance(lock: InstanceLock, onLaunch: (args: string[]) => void, argvOffset: number): boolean {
  if (!lock.requestSingleInstanceLock()) return false;
  lock.on('second-instance', (_e, argv) => onLaunch(argv.slice(argvOffset)));
  return true;
}

export function launchSocketPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return `\\\\.\\pipe\\tapgate-tray-${userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  if (env.TAPGATE_TRAY_SOCKET) return env.TAPGATE_TRAY_SOCKET;
  const base = env.XDG_RUNTIME_DIR || join(env.TAPGATE_HOME || join(homedir(), '.tapgate'));
  return join(base, 'tapgate-tray.sock');
}

const MAX_MESSAGE = 16 * 1024;

export interface LaunchListener {
  close(): Promise<void>;
}

/**
 * Listens for forwarded launches: one JSON line `{"argv": [...]}` per connection, answered with
 * `{"ok":true}`. Only the user can reach the socket (0600 in a 0700 directory).
 */
export async function listenForLaunches(path: string, onLaunch: (args: string[]) => void): Promise<LaunchListener> {
  if (process.platform !== 'win32') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (existsSync(path)) {
      if (await isAnswering(path)) throw new Error(`another tray is already listening on ${path}`);
      unlinkSync(path); // left behind by a crashed tray
    }
  }
  const server: Server = createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.setTimeout(2000, () => sock.destroy());
    sock.on('error', () => undefined);
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_MESSAGE) return void sock.destroy();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const args = parseMessage(buf.slice(0, nl));
      if (!args) return void sock.end('{"ok":false,"error":"bad message"}\n');
      sock.end('{"ok":true}\n');
      onLaunch(args);
    });
  });
  const oldMask = process.platform === 'win32' ? undefined : process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

function parseMessage(line: string): string[] | undefined {
  try {
    const m = JSON.parse(line) as { argv?: unknown };
    if (!Array.isArray(m.argv) || m.argv.length > 32 || !m.argv.every((a) => typeof a === 'string' && a.length <= 4096)) return undefined;
    return m.argv as string[];
  } catch {
    return undefined;
  }
}

/** Hands a launch to the running tray. 'no-instance' when nothing answers (so the caller starts one). */
export function forwardLaunch(path: string, args: readonly string[], timeoutMs = 1500): Promise<'forwarded' | 'no-instance'> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let answer = '';
    const done = (r: 'forwarded' | 'no-instance') => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('no-instance'), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ argv: args })}\n`));
    sock.on('data', (d: string) => {
      answer += d;
      if (answer.includes('\n')) done(answer.startsWith('{"ok":true}') ? 'forwarded' : 'no-instance');
    });
    sock.on('error', () => done('no-instance'));
    sock.on('close', () => done(answer.startsWith('{"ok":true}') ? 'forwarded' : 'no-instance'));
  });
}

function isAnswering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
