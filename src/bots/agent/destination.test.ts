import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DestinationLock, LOCK_FILE, writeAtomic } from './destination';

const tmp = () => mkdtempSync(join(tmpdir(), 'tapgate-dest-'));

describe('DestinationLock', () => {
  it('refuses a second holder with a message naming the owner', async () => {
    const dir = tmp();
    const a = await DestinationLock.acquire(dir);
    await assert.rejects(DestinationLock.acquire(dir), new RegExp(`in use by another tapgate bot \\(process ${process.pid}`));
    await a.release();
    const b = await DestinationLock.acquire(dir);
    await b.release();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = tmp();
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), since: 1 }));
    const l = await DestinationLock.acquire(dir);
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    await l.release();
  });

  it('respects a lock from another host', async () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', since: 1 }));
    await assert.rejects(DestinationLock.acquire(dir), /on host elsewhere.*delete/);
  });
});

describe('writeAtomic', () => {
  it('replaces the file whole, 0600, leaving no temp files', async () => {
    const dir = tmp();
    const p = join(dir, 'tls.crt');
    await writeAtomic(p, 'one');
    await writeAtomic(p, 'two');
    assert.equal(readFileSync(p, 'utf8'), 'two');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['tls.crt']);
  });
});
