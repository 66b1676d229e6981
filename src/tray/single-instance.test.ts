import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimSingleInstance, forwardLaunch, launchSocketPath, listenForLaunches, type InstanceLock } from './single-instance';
import { parseLaunchArgs } from './launch-args';

/** Electron's lock as two processes see it: the first to ask wins, later launches' argv go to it. */
class FakeLocks {
  private holder: (EventEmitter & InstanceLock) | undefined;
  app(): EventEmitter & InstanceLock {
    const e = new EventEmitter() as EventEmitter & InstanceLock;
    e.requestSingleInstanceLock = () => {
      if (!this.holder) {
        this.holder = e;
        return true;
      }
      return false;
    };
    return e;
  }
  launch(argv: string[]): boolean {
    const second = this.app();
    const got = second.requestSingleInstanceLock();
    if (!got) this.holder!.emit('second-instance', {}, argv, '/home/alice');
    return got;
  }
}

test('a second launch forwards its deep link to the first instance and quits', () => {
  const locks = new FakeLocks();
  const received: string[][] = [];
  assert.equal(claimSingleInstance(locks.app(), (a) => received.push(a), 1), true);
  assert.equal(locks.launch(['/opt/Tapgate/tapgate-tray', 'tapgate://connect?cluster=prod']), false);
  assert.deepEqual(received, [['tapgate://connect?cluster=prod']]);
  assert.deepEqual(parseLaunchArgs(received[0]!).request, { action: 'connect', cluster: 'prod', source: 'deep-link' });
});

test('the second instance does not register a handler of its own', () => {
  const locks = new FakeLocks();
  claimSingleInstance(locks.app(), () => undefined, 1);
  const second = locks.app();
  assert.equal(claimSingleInstance(second, () => assert.fail('second instance handled a launch'), 1), false);
  assert.equal(second.listenerCount('second-instance'), 0);
});

const dir = () => mkdtempSync(join(tmpdir(), 'tapgate-launch-'));

test('launch socket: `tapgate open --cluster prod` reaches the running tray', async () => {
  const d = dir();
  const path = join(d, 'tray.sock');
  const got: string[][] = [];
  const l = await listenForLaunches(path, (a) => got.push(a));
  try {
    assert.equal(statSync(path).mode & 0o077, 0, 'socket must be private to the user');
    assert.equal(await forwardLaunch(path, ['--cluster', 'prod']), 'forwarded');
    assert.deepEqual(got, [['--cluster', 'prod']]);
  } finally {
    await l.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('launch socket: nobody listening means "no-instance", so the caller starts the tray', async () => {
  const d = dir();
  assert.equal(await forwardLaunch(join(d, 'nothing.sock'), []), 'no-instance');
  rmSync(d, { recursive: true, force: true });
});

test('launch socket: a stale socket file from a crashed tray is replaced', async () => {
  const d = dir();
  const path = join(d, 'tray.sock');
  writeFileSync(path, '');
  const l = await listenForLaunches(path, () => undefined);
  assert.equal(await forwardLaunch(path, []), 'forwarded');
  await l.close();
  rmSync(d, { recursive: true, force: true });
});

test('launch socket: a second listener is refused while the first answers', async () => {
  const d = dir();
  const path = join(d, 'tray.sock');
  const l = await listenForLaunches(path, () => undefined);
  await assert.rejects(listenForLaunches(path, () => undefined), /already listening/);
  await l.close();
  rmSync(d, { recursive: true, force: true });
});

test('launch socket: malformed and oversized messages are dropped', async () => {
  const d = dir();
  const path = join(d, 'tray.sock');
  const got: string[][] = [];
  const l = await listenForLaunches(path, (a) => got.push(a));
  const send = (data: string) =>
    new Promise<string>((resolve) => {
      const s = createConnection(path);
      let out = '';
      s.on('data', (b) => (out += b));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write(data);
    });
  assert.match(await send('not json\n'), /"ok":false/);
  assert.match(await send('{"argv":[1,2]}\n'), /"ok":false/);
  assert.equal(await send('x'.repeat(20_000)), '');
  assert.deepEqual(got, []);
  await l.close();
  rmSync(d, { recursive: true, force: true });
});

test('socket path: the runtime dir when there is one', () => {
  assert.equal(launchSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux'), '/run/user/1000/tapgate-tray.sock');
  assert.equal(launchSocketPath({ TAPGATE_HOME: '/h/.tapgate' }, 'darwin'), '/h/.tapgate/tapgate-tray.sock');
  assert.match(launchSocketPath({}, 'win32'), /^\\\\\.\\pipe\\tapgate-tray-/);
});
