import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename } from 'node:path';
import type { ClientProcess } from './agent-types';

/**
 * Which local process is on the other end of a loopback TCP connection to the proxy.
 * Linux reads /proc (the socket inode from /proc/net/tcp, then the process holding it);
 * macOS asks lsof, Windows asks netstat and PowerShell. Best effort: undefined when unknown
 * (another user's process, a sandbox, a tool that is not installed).
 */
export async function findPeerProcess(peerPort: number, localPort: number): Promise<ClientProcess | undefined> {
  try {
    if (process.platform === 'linux') return await linuxPeer(peerPort, localPort);
    if (process.platform === 'darwin') return await macPeer(peerPort);
    if (process.platform === 'win32') return await windowsPeer(peerPort, localPort);
  } catch {
    // the connection may be gone already, or the process unreadable
  }
  return undefined;
}

/** Socket inode of the TCP socket whose local port is `peerPort` and remote port is `localPort`. */
export function findSocketInode(procNetTcp: string, peerPort: number, localPort: number): string | undefined {
  const local = `:${hex4(peerPort)}`;
  const remote = `:${hex4(localPort)}`;
  for (const line of procNetTcp.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !f[1]!.endsWith(local) || !f[2]!.endsWith(remote)) continue;
    if (f[9] !== '0') return f[9];
  }
  return undefined;
}

const hex4 = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');

async function linuxPeer(peerPort: number, localPort: number): Promise<ClientProcess | undefined> {
  let inode: string | undefined;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    inode = findSocketInode(await fs.readFile(file, 'latin1').catch(() => ''), peerPort, localPort);
    if (inode) break;
  }
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  // Clients are usually younger than everything else: newest pids first.
  const pids = (await fs.readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => b - a);
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await fs.readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // not ours to read, or gone
    }
    for (const fd of fds) {
      const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (link === target) {
        const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
        return { pid, command: formatArgv(raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1)) };
      }
    }
  }
  return undefined;
}

/** "kubectl get pods" from argv, with the program's directory dropped and odd arguments quoted. */
export function formatArgv(argv: string[]): string {
  if (!argv.length) return '';
  const [prog, ...args] = argv;
  return [basename(prog!), ...args.map((a) => (a === '' || /[\s'"\\$`]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a))].join(' ');
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 3000, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function macPeer(peerPort: number): Promise<ClientProcess | undefined> {
  // -F p: one "p<pid>" line per process holding a socket with that local port
  const out = await run('lsof', ['-nP', `-iTCP@127.0.0.1:${peerPort}`, '-sTCP:ESTABLISHED', '-Fp']);
  const pids = out.split('\n').filter((l) => l.startsWith('p')).map((l) => Number(l.slice(1)));
  const pid = pids.find((p) => p !== process.pid);
  if (!pid) return undefined;
  const command = (await run('ps', ['-o', 'command=', '-p', String(pid)])).trim();
  return { pid, command: formatArgv(command.split(' ')) };
}

async function windowsPeer(peerPort: number, localPort: number): Promise<ClientProcess | undefined> {
  const out = await run('netstat', ['-ano', '-p', 'TCP']);
  const row = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${peerPort}`) && f[2]?.endsWith(`:${localPort}`));
  const pid = row ? Number(row[4]) : 0;
  if (!pid) return undefined;
  const command = (
    await run('powershell', ['-NoProfile', '-Command', `(Get-CimInstance Win32_Process -Filter "ProcessId=${pid}").CommandLine`])
  ).trim();
  return { pid, command: command || `pid ${pid}` };
}
