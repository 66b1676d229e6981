import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatus, PendingTap } from '../client/agent-types';
import { ManualClock } from '../core/clock';
import { ScriptedAgent } from './scripted-agent';
import type { Notice } from './notification-rules';
import { defaultSettings } from './settings-store';
import { TrayController, type Timers, type TrayPorts } from './tray-controller';
import type { MenuEntry } from './tray-model';

const T0 = Date.UTC(2026, 0, 1, 12);

/** Timers moved by hand together with the clock. */
class FakeTimers implements Timers {
  private q = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;
  constructor(private clock: ManualClock) {}
  setTimeout(fn: () => void, ms: number) {
    this.q.set(++this.seq, { at: this.clock.now() + ms, fn });
    return this.seq;
  }
  clearTimeout(h: unknown) { this.q.delete(h as number); }
  advance(ms: number) {
    const end = this.clock.now() + ms;
    for (;;) {
      const next = [...this.q.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      this.q.delete(next[0]);
      this.clock.set(next[1].at);
      next[1].fn();
    }
    this.clock.set(end);
  }
}

function setup(initial: Partial<AgentStatus> = {}) {
  const clock = new ManualClock(T0);
  const timers = new FakeTimers(clock);
  const agent = new ScriptedAgent({ state: 'no-session', server: 'https://gate.example.com', user: 'alice', loginExpires: T0 + 12 * 3_600_000, clusters: [{ name: 'prod', context: 'tapgate-prod' }], kubeconfigPath: '/k', now: T0, ...initial });
  const log = {
    appearance: [] as { icon: string; tooltip: string; title: string }[],
    menus: [] as MenuEntry[][],
    notices: [] as { n: Notice; click?: () => void }[],
    tapShown: [] as string[],
    tapClosed: 0,
    windows: [] as string[],
    copied: [] as string[],
    terminals: [] as string[],
    confirms: [] as string[],
    lines: [] as string[],
  };
  let confirmAnswer = true;
  const ports: TrayPorts = {
    setAppearance: (a) => log.appearance.push(a),
    setMenu: (m) => log.menus.push(m),
    notify: (n, click) => log.notices.push({ n, click }),
    showTapWindow: (p) => log.tapShown.push(p.id),
    closeTapWindow: () => log.tapClosed++,
    showStatusWindow: (v) => log.windows.push(v),
    copyText: (t) => log.copied.push(t),
    openTerminal: async (c, ctx, kc) => void log.terminals.push(`${c} ${ctx} ${kc}`),
    confirm: async (m) => (log.confirms.push(m), confirmAnswer),
    quit: () => log.windows.push('quit'),
    log: (l) => log.lines.push(l),
  };
  const servers: string[] = [];
  const settings = { ...defaultSettings(), server: 'https://gate.example.com' };
  const c = new TrayController(agent, ports, { clock, timers, settings: () => settings, changeServer: async (s) => void servers.push(s) });
  return { c, agent, clock, timers, log, servers, setConfirm: (v: boolean) => (confirmAnswer = v) };
}

const verifiedStatus = (now: number, leftMs: number): Partial<AgentStatus> => ({ state: 'verified', mfaExpires: now + leftMs, mfaTtlMs: 900_000, now });

test('the tray title counts down every second without rebuilding the menu every second', async () => {
  const { c, agent, timers, log, clock } = setup();
  await c.onReady();
  agent.push({ event: 'status', data: { ...agent.s, loginExpires: undefined, ...verifiedStatus(clock.now(), 14 * 60_000 + 30_000) } });
  const menusBefore = log.menus.length;
  assert.equal(log.appearance.at(-1)!.title, '14:30');
  timers.advance(1000);
  assert.equal(log.appearance.at(-1)!.title, '14:29');
  timers.advance(4000);
  assert.equal(log.appearance.at(-1)!.title, '14:25');
  assert.equal(log.menus.length, menusBefore, 'menu rebuilt while only the seconds changed');
  timers.advance(60_000);
  assert.equal(log.menus.length, menusBefore + 1, 'menu rebuilt when its minute line changed');
  c.dispose();
});

test('the lapse warning fires once from the timer even when the agent pushes nothing', async () => {
  const { c, agent, timers, log, clock } = setup();
  await c.onReady();
  agent.push({ event: 'status', data: { ...agent.s, ...verifiedStatus(clock.now(), 15 * 60_000) } });
  log.notices.length = 0;
  timers.advance(14 * 60_000);
  assert.deepEqual(log.notices.map((x) => x.n.kind), ['lapse-warning']);
  assert.equal(log.appearance.at(-1)!.icon, 'lapsing');
  timers.advance(30_000);
  agent.push({ event: 'status', data: { ...agent.s } });
  assert.equal(log.notices.length, 1);
  log.notices[0]!.click!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(agent.calls, ['verifyNow'], 'clicking the warning asks for a tap');
  timers.advance(31_000);
  assert.equal(log.appearance.at(-1)!.icon, 'idle', 'lapsed');
  c.dispose();
});

const pending = (id: string, now: number): PendingTap => ({
  id,
  tapUrl: `https://gate.example.com/tap/${id}`,
  clusters: ['prod'],
  giveUpAt: now + 120_000,
  held: [{ id: 'c1', cluster: 'prod', kind: 'request', summary: 'get pods', startedAt: now, bytesIn: 0, bytesOut: 0, state: 'held', process: { pid: 7, command: 'kubectl get pods' } }],
});

test('a held request opens the tap window once and notifies; verifying closes it', async () => {
  const { c, agent, log, clock } = setup();
  await c.onReady();
  const waiting = { ...agent.s, state: 'waiting-for-tap' as const, pendingTap: pending('t1', clock.now()) };
  agent.push({ event: 'status', data: waiting });
  agent.push({ event: 'status', data: waiting });
  assert.deepEqual(log.tapShown, ['t1']);
  assert.deepEqual(log.notices.map((x) => x.n.title), ['kubectl is waiting for your tap']);
  assert.equal(log.appearance.at(-1)!.icon, 'waiting');
  agent.push({ event: 'status', data: { ...agent.s, pendingTap: undefined, ...verifiedStatus(clock.now(), 900_000) } });
  assert.equal(log.tapClosed, 1);
  assert.deepEqual(log.notices.map((x) => x.n.title).at(-1), 'Verified for 15 minutes');
});

test('a tap window the user closed is not pushed back until they ask for it', async () => {
  const { c, agent, log, clock } = setup();
  await c.onReady();
  const waiting = { ...agent.s, state: 'waiting-for-tap' as const, pendingTap: pending('t1', clock.now()) };
  agent.push({ event: 'status', data: waiting });
  c.tapWindowClosed();
  agent.push({ event: 'status', data: { ...waiting } });
  assert.deepEqual(log.tapShown, ['t1']);
  await c.handleAction({ type: 'show-tap' });
  assert.deepEqual(log.tapShown, ['t1', 't1']);
  agent.push({ event: 'status', data: { ...waiting, pendingTap: pending('t2', clock.now()) } });
  assert.deepEqual(log.tapShown, ['t1', 't1', 't2'], 'a new request opens it again');
});

test('menu actions reach the agent and the desktop', async () => {
  const { c, agent, log } = setup();
  await c.onReady();
  await c.handleAction({ type: 'forget' });
  await c.handleAction({ type: 'cancel-tap' });
  await c.handleAction({ type: 'copy-context', context: 'tapgate-prod' });
  await c.handleAction({ type: 'open-terminal', cluster: 'prod' });
  await c.handleAction({ type: 'connections' });
  await c.handleAction({ type: 'settings' });
  await c.handleAction({ type: 'quit' });
  assert.deepEqual(agent.calls, ['forgetMfa', 'cancelTap']);
  assert.deepEqual(log.copied, ['tapgate-prod']);
  assert.deepEqual(log.terminals, ['prod tapgate-prod /k']);
  assert.deepEqual(log.windows, ['connections', 'settings', 'quit']);
});

test('a failing action is told to the user, not swallowed', async () => {
  const { c, agent, log } = setup();
  await c.onReady();
  agent.verifyNow = async () => {
    throw new Error('gate unreachable');
  };
  await c.handleAction({ type: 'verify' });
  assert.deepEqual(log.notices.map((x) => [x.n.kind, x.n.body]), [['error', 'gate unreachable']]);
});

test('launches: deep link verify, connect, and --server asks before switching gates', async () => {
  const { c, agent, log, servers, setConfirm } = setup();
  await c.onReady();
  await c.handleLaunch({ action: 'verify', source: 'deep-link' });
  assert.deepEqual(agent.calls, ['verifyNow']);
  await c.handleLaunch({ action: 'connect', cluster: 'prod', source: 'deep-link' });
  assert.deepEqual(agent.calls, ['verifyNow', 'verifyNow'], 'connect asks for a tap when not verified');
  await c.handleLaunch({ action: 'open', source: 'argv' });
  assert.deepEqual(log.windows, ['status']);
  setConfirm(false);
  await c.handleLaunch({ action: 'open', server: 'https://other.example.com', source: 'argv' });
  assert.deepEqual(servers, []);
  assert.match(log.confirms[0]!, /Switch Tapgate to https:\/\/other.example.com/);
  setConfirm(true);
  await c.handleLaunch({ action: 'open', server: 'https://other.example.com', source: 'argv' });
  assert.deepEqual(servers, ['https://other.example.com']);
  await c.handleLaunch({ action: 'open', server: 'https://evil.example.com', source: 'deep-link' });
  assert.deepEqual(servers, ['https://other.example.com'], 'a deep link never switches the gate');
});

test('a lock event becomes a notification', async () => {
  const { c, agent, log } = setup();
  await c.onReady();
  agent.push({ event: 'event', data: { kind: 'locked', at: T0, message: 'locked by admin' } });
  assert.deepEqual(log.notices.map((x) => x.n.kind), ['locked']);
});
