/**
 * The whole client path for e2e tests: real kubectl → local proxy (Agent) → real gate kube
 * listener → fake API server, with a person who enrolled a virtual security key in Chromium,
 * logged in, and taps on the gate's tap page when the agent asks.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Agent, type AgentOptions } from '../../src/client/agent';
import type { PendingTap } from '../../src/client/agent-types';
import type { TapPrompt, TapPromptCloseReason } from '../../src/client/tap-prompt';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index';
import { addVirtualAuthenticator, launchChromium, newGatePage } from '../helpers/browser';
import { startTestGate, type TestGate, type TestLogin } from '../helpers/gate';
import { runKubectl, type KubectlResult } from '../helpers/kubectl';

/** A tap prompt the test drives: records what the agent asked, and taps when told to (or at once). */
export class TestPrompt implements TapPrompt {
  shown: PendingTap[] = [];
  closed: TapPromptCloseReason[] = [];
  autoTap = false;
  private waiting: ((p: PendingTap) => void)[] = [];
  private tapping = new Set<string>();

  constructor(private readonly tapper: (url: string) => Promise<unknown>) {}

  show(p: PendingTap): void {
    this.shown.push(p);
    for (const w of this.waiting.splice(0)) w(p);
    if (this.autoTap && !this.tapping.has(p.id)) {
      this.tapping.add(p.id);
      void this.tapper(p.tapUrl).catch((e: unknown) => process.stderr.write(`auto tap failed: ${String(e)}\n`));
    }
  }

  close(reason: TapPromptCloseReason): void {
    this.closed.push(reason);
  }

  /** The next prompt (or the current one, if shown since `after`). */
  next(after = this.shown.length): Promise<PendingTap> {
    if (this.shown.length > after) return Promise.resolve(this.shown[this.shown.length - 1]!);
    return new Promise((r) => this.waiting.push(r));
  }
}

/** A person with their own browser context, security key, login, agent and kubeconfig. */
export interface Person {
  name: string;
  page: Page;
  login: TestLogin;
  prompt: TestPrompt;
  agent: Agent;
  kubeconfig: string;
  k(args: string[], o?: { stdin?: string | Buffer; timeoutMs?: number; context?: string }): Promise<KubectlResult>;
  /** approves a tap URL on this person's page (one at a time) */
  tap(url: string): Promise<unknown>;
}

export interface Stack {
  dir: string;
  fake: FakeApiServer;
  tg: TestGate;
  browser: Browser;
  /** enrols, logs in and starts an agent for a person */
  person(name: string, roles: string[], o?: { agent?: Partial<AgentOptions>; autoTap?: boolean }): Promise<Person>;
  close(): Promise<void>;
}

export async function startStack(o: { roles?: unknown[] } = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-stack-'));
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const fake = await startFakeApiServer({ logIntervalMs: 0 });
    closers.push(() => fake.close());
    const upstream = await fake.writeKubeconfig(join(dir, 'upstream.yaml'), { context: 'dev' });
    const tg = await startTestGate({ clusters: [{ name: 'dev', kubeconfig: upstream }], roles: o.roles });
    closers.push(() => tg.close());
    const browser = await launchChromium();
    closers.push(() => browser.close());
    return {
      dir,
      fake,
      tg,
      browser,
      async person(name, roles, po = {}) {
        const { page } = await newGatePage(browser);
        await addVirtualAuthenticator(page);
        await tg.enrolUser(name, roles, page);
        const login = await tg.login(name, page);
        let chain: Promise<unknown> = Promise.resolve();
        const tap = (url: string) => (chain = chain.catch(() => undefined).then(() => tg.tap(page, url)));
        const prompt = new TestPrompt(tap);
        prompt.autoTap = po.autoTap ?? true;
        const agent = await Agent.start({
          login: login.state,
          home: login.home,
          kubeUrl: tg.gate.kubeUrl,
          clusters: ['dev'],
          prompt,
          kubeconfigName: 'agent',
          ...po.agent,
        });
        closers.push(() => agent.close());
        const kubeconfig = agent.kubeconfigPath;
        return {
          name,
          page,
          login,
          prompt,
          agent,
          kubeconfig,
          tap,
          k: (args, ko = {}) => runKubectl(['--context', ko.context ?? 'tapgate-dev', ...args], { kubeconfig, stdin: ko.stdin, timeoutMs: ko.timeoutMs ?? 30_000 }),
        };
      },
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

export function ok(r: KubectlResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (code ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Resolves with the output so far once `pred` holds; rejects if the process exits first or time runs out. */
export function waitForOutput(child: ChildProcess, pred: (out: string) => boolean, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => done(new Error(`timed out waiting for output; got:\n${out}\nstderr:\n${err}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (pred(out)) done();
    };
    const onErr = (d: Buffer) => void (err += d.toString('utf8'));
    const onExit = (code: number | null) => done(new Error(`kubectl exited (${code}) before the expected output; got:\n${out}\nstderr:\n${err}`));
    const done = (e?: Error) => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(out);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onErr);
    child.on('exit', onExit);
  });
}

/** Ends a child process and waits for it; at once if it has ended already. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise((r) => child.once('close', r));
  child.kill(signal);
  await closed;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
