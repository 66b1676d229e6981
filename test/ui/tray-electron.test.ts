/**
 * The Electron side. Where Electron's binary is present (and a display), a Playwright `_electron`
 * smoke test starts the real tray and opens its status window. Everywhere, the bundled main
 * process is loaded under plain Node with a stand-in `electron` module, to prove the bundle
 * resolves all its modules and wires the app's events.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { build as esbuild } from 'esbuild';
import { _electron } from 'playwright-core';
import { build } from 'vite';
import { checkElectron, probeHere } from '../../src/tray/electron-runtime';
import { electronBuilds } from '../../vite.config';
import { repoRoot } from './tray-fixture';

/** A stand-in `electron` that records what main.ts asks of `app`, takes the lock, and never becomes ready. */
const STUB = `
const Module = require('module');
const seen = { on: [], calls: [] };
const stub = new Proxy(function () {}, { get: (_t, k) => (k === 'then' ? undefined : stub), apply: () => stub, construct: () => stub });
const app = new Proxy({}, {
  get: (_t, k) => {
    if (k === 'isPackaged') return false;
    if (k === 'requestSingleInstanceLock') return () => (seen.calls.push('requestSingleInstanceLock'), process.env.STUB_LOCK === '1');
    if (k === 'on') return (event) => (seen.on.push(event), app);
    if (k === 'whenReady') return () => (seen.calls.push('whenReady'), new Promise(() => {}));
    return (...args) => (seen.calls.push(String(k) + (typeof args[0] === 'string' ? ' ' + args[0] : '')), stub);
  },
});
const electron = new Proxy({ app }, { get: (t, k) => (k in t ? t[k] : stub) });
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'electron' ? electron : load.call(this, request, ...rest); };
require(process.argv[2]);
setImmediate(() => { console.log(JSON.stringify(seen)); process.exit(0); });
`;

test('the bundled main process loads under Node and wires single-instance, deep links and lockdown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-electron-bundle-'));
  try {
    await Promise.all(electronBuilds(dir).map((o) => esbuild({ ...o, logLevel: 'error' })));
    writeFileSync(join(dir, 'stub.cjs'), STUB);
    const run = (lock: '0' | '1') => {
      const r = spawnSync(process.execPath, [join(dir, 'stub.cjs'), join(dir, 'main.cjs')], { env: { ...process.env, STUB_LOCK: lock }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { on: string[]; calls: string[] };
    };
    const first = run('1');
    assert.deepEqual([...first.on].sort(), ['certificate-error', 'open-url', 'second-instance', 'web-contents-created', 'window-all-closed']);
    assert.ok(first.calls.includes('enableSandbox'), 'every renderer sandboxed');
    assert.ok(first.calls.includes('setAsDefaultProtocolClient tapgate'), 'tapgate:// registered');
    assert.ok(first.calls.includes('whenReady'));
    const second = run('0');
    assert.deepEqual(second.on, [], 'a second instance registers nothing');
    assert.deepEqual(second.calls, ['requestSingleInstanceLock', 'quit'], 'a second instance hands over and quits');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Electron smoke: the tray starts and opens its status window', async (t) => {
  const electron = checkElectron(probeHere(repoRoot));
  if (!electron.ok) {
    t.skip(`electron binary not present: ${electron.reason}`);
    process.stderr.write(`SKIPPED Electron smoke test: ${electron.reason}\n`);
    return;
  }
  await build({ configFile: join(repoRoot, 'vite.config.ts'), logLevel: 'warn' });
  const home = mkdtempSync(join(tmpdir(), 'tapgate-electron-home-'));
  const app = await _electron.launch({
    executablePath: electron.binary,
    args: [repoRoot, '--status'],
    env: { ...process.env, TAPGATE_HOME: home, TAPGATE_TRAY_SOCKET: join(home, 'tray.sock'), TAPGATE_AGENT_SOCKET: join(home, 'agent.sock') },
  });
  try {
    const win = await app.firstWindow();
    await win.waitForSelector('#state-pill');
    assert.match(await win.title(), /^Tapgate/);
    assert.equal(await win.evaluate(() => (window as unknown as { tapgate?: { kind: string } }).tapgate?.kind), 'electron');
    assert.equal(await win.evaluate(() => typeof (globalThis as { require?: unknown }).require), 'undefined', 'no Node in the renderer');
    assert.match((await win.textContent('.banner'))!, /Not logged in/);
  } finally {
    await app.close();
    rmSync(home, { recursive: true, force: true });
  }
});
