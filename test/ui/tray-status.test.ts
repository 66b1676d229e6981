/**
 * The tray's windows against a real agent and gate: real kubectl 1.35 → the local proxy (Agent)
 * → the gate → the fake API server, the tap done on the gate's page in Chromium with a virtual
 * security key. The windows are the built renderer served by the status server (the tray's
 * HTTP bridge), so they run in Debian's Chromium exactly as a headless agent's users see them.
 *
 * The seed's story: verified → the status window counts down with a live `kubectl exec` → the
 * lapse warning → MFA lapses → `kubectl get` is held → the tap window shows it → tap → kubectl
 * completes and the exec stream is still there → Disconnect ends it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { ControlServer } from '../../src/client/control-socket';
import { listenForLaunches } from '../../src/tray/single-instance';
import type { BrowserContext, Page } from 'playwright-core';
import type { PendingTap } from '../../src/client/agent-types';
import type { Clock } from '../../src/core/clock';
import { AgentHost } from '../../src/tray/agent-host';
import { createInvokeApi } from '../../src/tray/invoke-api';
import type { Notice } from '../../src/tray/notification-rules';
import { defaultSettings, SettingsStore } from '../../src/tray/settings-store';
import { startStatusPage, startStatusServer, type StatusServer } from '../../src/tray/status-server';
import { TrayController, type TrayPorts } from '../../src/tray/tray-controller';
import type { TrayIconState } from '../../src/tray/tray-model';
import { ok, startStack, until, waitForOutput, type Person, type Stack } from '../e2e/local-proxy-fixture';
import { settledStatus } from '../helpers/gate';
import { spawnKubectl } from '../helpers/kubectl';
import { buildRenderer, composeTapWindow, emulateTrayPreload, repoRoot, screenshot } from './tray-fixture';

/** Real time plus an offset the test moves: the agent sees its certificate lapse without waiting 15 minutes. */
class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

/** The tray's desktop side, recorded: what the Electron adapter would have shown. */
class RecordingPorts implements TrayPorts {
  notices: Notice[] = [];
  taps: PendingTap[] = [];
  appearance: { icon: TrayIconState; tooltip: string; title: string } | undefined;
  setAppearance(a: { icon: TrayIconState; tooltip: string; title: string }) {
    this.appearance = a;
  }
  setMenu() {}
  notify(n: Notice) {
    this.notices.push(n);
  }
  showTapWindow(p: PendingTap) {
    this.taps.push(p);
  }
  closeTapWindow() {}
  showStatusWindow() {}
  copyText() {}
  async openTerminal() {}
  async confirm() {
    return false;
  }
  quit() {}
  log() {}
}

let s: Stack;
let a: Person;
let root: string;
let clock: ShiftedClock;
let page: StatusServer;
let viewer: BrowserContext;
let status: Page;
let ports: RecordingPorts;
let controller: TrayController;
let exec: ChildProcess | undefined;

before(async () => {
  root = await buildRenderer();
  clock = new ShiftedClock();
  s = await startStack();
  a = await s.person('alice', ['access'], { agent: { clock } });
  page = await startStatusPage(a.agent, { root, openExternal: async () => false });
  ports = new RecordingPorts();
  controller = new TrayController(a.agent, ports, { clock, settings: () => defaultSettings() });
  await controller.onReady();
  viewer = await s.browser.newContext({ viewport: { width: 820, height: 660 }, colorScheme: 'light' });
  status = await viewer.newPage();
  status.on('pageerror', (e) => process.stderr.write(`status page error: ${e.message}\n`));
});

after(async () => {
  exec?.kill();
  controller?.dispose();
  await viewer?.close().catch(() => undefined);
  await page?.close();
  await s?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('status and tap windows over a real agent and gate', () => {
  test('after the first tap the status window counts down to MFA lapse and login expiry', async () => {
    ok(await a.k(['version']), 'kubectl version');
    await status.goto(page.url);
    await status.waitForSelector('#state-pill.verified');
    const mfa = await status.textContent('#mfa-countdown');
    assert.match(mfa!, /^1[45]:\d\d$/, `MFA countdown ${mfa}`);
    assert.match((await status.textContent('#login-countdown'))!, /^\d+:\d\d:\d\d$/);
    // it counts down by itself (a display tick; the data is pushed)
    await status.waitForFunction((before) => document.getElementById('mfa-countdown')!.textContent !== before, mfa, { timeout: 5000 });
    assert.equal(ports.appearance?.icon, 'verified');
    assert.match(ports.appearance!.title, /^1[45]:\d\d$/);
  });

  test('a live kubectl exec shows up with its process, pushed without a reload', async () => {
    ok(await a.k(['apply', '-f', '-'], { stdin: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell' }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } }) }), 'apply pod');
    ok(await a.k(['wait', '--for=jsonpath={.status.phase}=Running', 'pod/shell', '--timeout=20s']), 'wait pod');
    exec = await spawnKubectl(['--context', 'tapgate-dev', 'exec', '-i', 'shell', '--', 'cat'], { kubeconfig: a.kubeconfig });
    exec.stdin!.write('ping\n');
    await waitForOutput(exec, (o) => o.includes('ping'));
    const row = status.locator('#connections tbody tr', { hasText: /exec -i shell (-c main )?-- cat/ });
    await row.waitFor({ timeout: 10_000 });
    const text = (await row.textContent())!;
    assert.match(text, new RegExp(`kubectl\\s*pid ${exec.pid}`));
    assert.match(text, /dev/);
    assert.match(text, /\d+(\.\d)? ?k?B \/ \d+(\.\d)? ?k?B/);
    await screenshot(status, 'tray-status-verified.png');
    await status.emulateMedia({ colorScheme: 'dark' });
    await screenshot(status, 'tray-status-verified-dark.png');
    await status.emulateMedia({ colorScheme: 'light' });
  });

  test('the lapse warning appears a minute before the MFA certificate lapses', async () => {
    const st = await a.agent.status();
    clock.offset = st.mfaExpires! - Date.now() - 45_000;
    await status.reload();
    const banner = status.locator('#lapse-warning');
    await banner.waitFor();
    assert.match((await banner.textContent())!, /MFA lapses in 0:4\d — tap to extend/);
    assert.match((await status.textContent('#state-pill'))!, /lapsing/);
    // the tray: one notification, lapsing icon, the countdown as its title
    const notice = await until(() => ports.notices.find((n) => n.kind === 'lapse-warning'), 'the lapse notification');
    assert.equal(notice.title, 'Tapgate: MFA lapses in under a minute');
    assert.deepEqual(notice.onClick, { type: 'verify' });
    await until(() => ports.appearance?.icon === 'lapsing', 'the lapsing icon');
    await screenshot(status, 'tray-status-lapsing.png');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(ports.notices.filter((n) => n.kind === 'lapse-warning').length, 1, 'fires once');
  });

  test('after the lapse kubectl get is held; the tap window shows it; the tap completes it and the exec stream stays', async () => {
    const st = await a.agent.status();
    clock.offset = st.mfaExpires! - Date.now() + 5_000;
    a.prompt.autoTap = false;
    const get = a.k(['get', 'pods', '-o', 'name']);
    const pending = await until(async () => {
      const p = (await a.agent.status()).pendingTap;
      return p && p.held.some((h) => h.summary.startsWith('get pods') && h.process) ? p : undefined;
    }, 'the held kubectl get').catch(async (e) => {
      throw new Error(`${(e as Error).message}; agent status: ${JSON.stringify(await a.agent.status())}`);
    });
    const held = pending.held.find((h) => h.summary.startsWith('get pods'))!;
    assert.match(held.process!.command, /kubectl .*get pods -o name/);

    // the tray opened its tap window for it and said so
    await until(() => ports.taps.some((p) => p.id === pending.id), 'the tap window');
    const heldNote = await until(() => ports.notices.find((n) => n.kind === 'held' && n.body.includes('get pods')), 'the held notification');
    assert.equal(heldNote.title, 'kubectl is waiting for your tap');
    assert.match(heldNote.body, /^dev: kubectl: get pods -n default · gives up in [12]:\d\d$/);

    // the tap window's shell: what waits, for how long, Cancel, the tap page
    const shell = await viewer.newPage();
    await shell.setViewportSize({ width: 440, height: 250 });
    await emulateTrayPreload(shell);
    await shell.goto(page.pageUrl('tap'));
    const item = shell.locator('#held li', { hasText: 'kubectl get pods -o name' });
    await item.waitFor();
    assert.match((await item.textContent())!, new RegExp(`^dev\\s*kubectl get pods -o name\\s*kubectl · pid ${held.process!.pid} · held \\d+s$`));
    assert.match((await shell.textContent('#title'))!, /kubectl is waiting for your tap/);
    assert.match((await shell.textContent('#giveup'))!, /give up in [12]:\d\d/);
    assert.equal(await shell.isVisible('#browser'), true, '"Use my browser instead" in the tray window');
    assert.equal(await shell.isVisible('#below'), true);
    assert.equal(await shell.isEnabled('#cancel'), true);
    const shellPng = await screenshot(shell, 'tray-tap-shell.png');

    await status.reload();
    await status.locator('#tap-banner').waitFor();
    await status.locator('#connections tbody tr.held').waitFor();
    await screenshot(status, 'tray-status-waiting.png');

    // the tap, on the gate's own page (its origin is the relying party)
    clock.offset = 0;
    await a.page.setViewportSize({ width: 440, height: 510 });
    await a.page.goto(pending.tapUrl);
    await a.page.waitForSelector('#approve');
    const gatePng = await a.page.screenshot();
    await composeTapWindow(s.browser, shellPng, gatePng, 'tray-tap-window.png');
    // the same page in a plain browser (headless agent): a link to the tap page instead
    const plain = await viewer.newPage();
    await plain.goto(page.pageUrl('tap'));
    await plain.locator('#open-tap').waitFor();
    assert.equal(await plain.getAttribute('#open-tap', 'href'), pending.tapUrl);
    assert.equal(await plain.isVisible('#browser'), false);
    await plain.close();
    await a.page.click('#approve');
    assert.equal((await settledStatus(a.page)).kind, 'ok');

    const r = await get;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pod\/shell/);
    exec!.stdin!.write('still here\n');
    await waitForOutput(exec!, (o) => o.includes('still here'));

    await shell.waitForSelector('body.done');
    assert.equal(await shell.textContent('#title'), 'Verified');
    await screenshot(shell, 'tray-tap-verified.png');
    const verified = await until(() => ports.notices.find((n) => n.kind === 'verified'), 'the verified notification');
    assert.equal(verified.title, 'Verified for 15 minutes');
    await shell.close();
  });

  test('Disconnect in the status window ends the kubectl exec', async () => {
    await status.reload();
    const row = status.locator('#connections tbody tr', { hasText: /exec -i shell (-c main )?-- cat/ });
    await row.waitFor();
    const closed = once(exec!, 'close');
    await row.locator('button', { hasText: 'Disconnect' }).click();
    await closed;
    await row.waitFor({ state: 'detached' });
    assert.equal((await a.agent.connections()).some((c) => c.kind === 'exec'), false);
    exec = undefined;
  });

  test('settings are saved from the window and persisted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapgate-tray-settings-'));
    const store = new SettingsStore(join(dir, 'settings.json'));
    store.update({ server: s.tg.url });
    const server = await startStatusServer({ api: createInvokeApi({ agent: a.agent, settings: store, keyProtected: () => false, openExternal: async () => false }), subscribe: (l) => a.agent.subscribe(l), root });
    try {
      await status.goto(server.pageUrl('status', 'settings'));
      await status.waitForSelector('#view-settings:not([hidden])');
      assert.equal(await status.inputValue('input[name=server]'), s.tg.url);
      await status.fill('input[name=defaultTtl]', '10m');
      await status.uncheck('input[name=verified]');
      await status.click('button[type=submit]');
      await status.waitForSelector('#settings-message.ok');
      await screenshot(status, 'tray-settings.png');
      const saved = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'));
      assert.equal(saved.defaultTtl, '10m');
      assert.equal(saved.notifications.verified, false);
      await status.fill('input[name=defaultTtl]', 'soon');
      await status.click('button[type=submit]');
      await status.waitForSelector('#settings-message.error');
      assert.match((await status.textContent('#settings-message'))!, /write it like 90s, 15m/);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('before any login the window says how to log in', async () => {
    const host = new AgentHost({ loadLogin: () => undefined, startAgent: async () => { throw new Error('no login'); }, server: () => s.tg.url, clock, log: () => undefined });
    await host.reload();
    const server = await startStatusPage(host, { root });
    try {
      await status.goto(server.url);
      const banner = status.locator('.banner.info');
      await banner.waitFor();
      assert.match((await banner.textContent())!, new RegExp(`Not logged in\\. Run tapgate login --server ${s.tg.url.replace(/[.:/]/g, '\\$&')} in a terminal\\.`));
      assert.equal(await status.isDisabled('#forget'), true);
      await screenshot(status, 'tray-status-no-session.png');
    } finally {
      await server.close();
    }
  });

  test('`tapgate open --cluster dev` hands the launch to the running tray', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapgate-open-'));
    const got: string[][] = [];
    const listener = await listenForLaunches(join(dir, 'tray.sock'), (args) => got.push(args));
    try {
      const r = await runCli(['open', '--cluster', 'dev'], { TAPGATE_TRAY_SOCKET: join(dir, 'tray.sock') });
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /the running tray has it/);
      assert.deepEqual(got, [['--cluster', 'dev']]);
      const bad = await runCli(['open', '--cluster', '../etc'], { TAPGATE_TRAY_SOCKET: join(dir, 'tray.sock') });
      assert.equal(bad.code, 1);
      assert.match(bad.err, /bad --cluster/);
      assert.equal(got.length, 1);
    } finally {
      await listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('`tapgate open` without a tray serves the running agent\'s status page', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapgate-open-'));
    const control = await ControlServer.listen(a.agent, join(dir, 'agent.sock'));
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'tapgate.mjs'), 'open', '--no-browser'], {
      env: { ...process.env, TAPGATE_TRAY_SOCKET: join(dir, 'tray.sock'), TAPGATE_AGENT_SOCKET: join(dir, 'agent.sock'), ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'no-electron') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const out = await waitForOutput(child, (o) => /status page: http:\/\/127\.0\.0\.1:\d+\/status\/\?token=\S+/.test(o), 20_000);
      const url = /status page: (\S+)/.exec(out)![1]!;
      await status.goto(url);
      await status.waitForSelector('#state-pill.verified');
      assert.match((await status.textContent('#account'))!, /^alice @ localhost:\d+$/);
      const closed = once(child, 'close');
      child.kill('SIGINT');
      assert.equal((await closed)[0], 0);
    } finally {
      child.kill();
      await control.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'tapgate.mjs'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}
