import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, promises as fs, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TapgateError } from '../../core/errors';
import { RemovedOnExit } from '../../core/removed-on-exit';

export const LOCK_FILE = '.tapgate-bot.lock';

interface LockInfo {
  pid: number;
  host: string;
  since: number;
}

/** Is a process with this id running here? EPERM means it runs under another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One agent per destination: `DIR/.tapgate-bot.lock` holds the owner's pid, created exclusively.
 * A lock left by a process that no longer runs on this host is stale and taken over; one from
 * another host (a shared volume) cannot be checked and is respected.
 */
export class DestinationLock extends RemovedOnExit {
  static async acquire(dir: string): Promise<DestinationLock> {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, LOCK_FILE);
    const me: LockInfo = { pid: process.pid, host: hostname(), since: Date.now() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await fs.writeFile(path, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o600 });
        return new DestinationLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let held: Partial<LockInfo> = {};
      try {
        held = JSON.parse(await fs.readFile(path, 'utf8')) as LockInfo;
      } catch {
        // unreadable or half-written: treat as held by an unknown process unless it is old
        const st = await fs.stat(path).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs < 10_000) held = { pid: -1, host: me.host };
      }
      const sameHost = held.host === me.host;
      const stale = held.pid === undefined || (sameHost && held.pid !== -1 && held.pid !== process.pid && !alive(held.pid));
      if (!stale) {
        const who = sameHost ? `process ${held.pid}` : `process ${held.pid} on host ${held.host}`;
        const since = held.since ? ` since ${new Date(held.since).toISOString()}` : '';
        throw new TapgateError(
          'destination_locked',
          `destination ${dir} is in use by another tapgate bot (${who}${since}); stop it or choose another --destination${sameHost ? '' : `; if that host is gone, delete ${path}`}`,
          { status: 409 },
        );
      }
      await fs.rm(path, { force: true });
    }
    throw new TapgateError('destination_locked', `cannot take the lock ${path}: another process keeps taking it`, { status: 409 });
  }

  release(): Promise<void> {
    return this.remove();
  }
}

/**
 * Writes a file readers never see half-written: a private temp file in the same directory,
 * flushed, then renamed over the target. Mode 0600.
 */
export async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
