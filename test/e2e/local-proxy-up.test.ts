/**
 * `tapgate up`, as a new user runs it: the gate and the agent in one process in front of the
 * current kube context (here the fake API server). First run: enrol a key and sign in (in
 * Chromium with a virtual key), then kubectl waits for one tap. Second run: straight to ready.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index';
import { addVirtualAuthenticator, launchChromium, newGatePage } from '../helpers/browser';
import { settledStatus } from '../helpers/gate';
import { runKubectl } from '../helpers/kubectl';
import { stopChild, until } from './local-proxy-fixture';

const BIN = new URL('../../bin/tapgate.mjs', import.meta.url).pathname;

let dir: string;
let fake: FakeApiServer;
let browser: Browser;
let page: Page;
let env: NodeJS.ProcessEnv;
let ports: [string, string];

/** A port free right now (both runs use the same ones, as `tapgate up`'s defaults 3025/3026 would be). */
async function freePort(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return String(p);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tapgate-up-'));
  fake = await startFakeApiServer({ logIntervalMs: 0 });
  const kubeconfig = await fake.writeKubeconfig(join(dir, 'kubeconfig'), { context: 'Fake Dev' });
  browser = await launchChromium();
  ({ page } = await newGatePage(browser));
  await addVirtualAuthenticator(page);
  const { TAPGATE_AGENT_SOCKET: _omit, ...rest } = process.env;
  ports = [await freePort(), await freePort()];
  env = { ...rest, KUBECONFIG: kubeconfig, TAPGATE_HOME: join(dir, 'home'), USER: 'tester' };
});
after(async () => {
  await browser?.close();
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `tapgate up` and collects its output. */
function up(): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, [BIN, 'up', '--api-port', ports[0], '--kube-port', ports[1], '--no-browser', '--data-dir', join(dir, 'server')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

const urlAfter = (text: string, marker: string) => /https:\/\/\S+/.exec(text.slice(text.indexOf(marker)))?.[0];

const stop = (child: ChildProcess) => stopChild(child, 'SIGINT');

test('first run: enrol, sign in, then kubectl waits for one tap through the quick-start gate', async () => {
  const u = up();
  try {
    await until(() => u.out().includes('First run: register a security key for tester'), `the enrolment link (stderr: ${u.err()})`, 60_000);
    assert.match(u.out(), /for context "Fake Dev" as cluster "fake-dev"/);
    await page.goto(urlAfter(u.out(), 'First run')!);
    await page.click('#register');
    assert.equal((await settledStatus(page)).kind, 'ok');

    await until(() => /sign in with the same key:\s+https:/.test(u.out()), 'the login link', 30_000);
    await page.goto(urlAfter(u.out(), 'sign in with the same key')!);
    await page.click('#signin');
    assert.equal((await settledStatus(page)).kind, 'ok');

    await until(() => u.out().includes('Ready.'), `ready (stderr: ${u.err()})`, 30_000);
    const kubeconfig = /export KUBECONFIG=(\S+)/.exec(u.out())![1]!;
    assert.match(u.out(), /kubectl --context tapgate-fake-dev get pods/);

    const call = runKubectl(['--context', 'tapgate-fake-dev', 'get', 'namespaces', '-o', 'name'], { kubeconfig, timeoutMs: 60_000 });
    await until(() => /tap your security key to open fake-dev/.test(u.err()), 'the tap prompt', 30_000);
    await page.goto(urlAfter(u.err(), 'tap your security key to open fake-dev')!);
    await page.click('#approve');
    assert.equal((await settledStatus(page)).kind, 'ok');
    const r = await call;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /namespace\/default/);

    const status = await runCli(['kube', 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /State\s+verified/);
    assert.match(status.stdout, /User\s+tester/);

    await stop(u.child);
    assert.equal(existsSync(kubeconfig), false, 'the kubeconfig is removed on exit');
  } finally {
    u.child.kill('SIGKILL');
  }
});

test('second run: the saved login is reused, no enrolment', async () => {
  const u = up();
  try {
    await until(() => u.out().includes('Ready.'), 'ready', 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\nstdout: ${u.out()}\nstderr: ${u.err()}`);
    });
    assert.doesNotMatch(u.out(), /First run/);
    await stop(u.child);
  } finally {
    u.child.kill('SIGKILL');
  }
});

test('without a kube context it says what to do', async () => {
  const r = await runCli(['up', '--no-browser'], { ...env, KUBECONFIG: join(dir, 'nothing-here') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no kubeconfig at .*nothing-here; get one for your cluster .* or set KUBECONFIG/);
});

function runCli(args: string[], e = env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
