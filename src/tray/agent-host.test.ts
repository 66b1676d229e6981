import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentPush } from '../client/agent-types';
import type { LoginState } from '../client/profile';
import { ManualClock } from '../core/clock';
import { AgentHost, type HostedAgent } from './agent-host';
import { ScriptedAgent } from './scripted-agent';

const login = (cert: string): LoginState => ({
  profile: { server: 'https://gate.example.com', user: 'alice', caPem: '', loginExpires: Date.UTC(2026, 0, 2), roles: [] },
  certPem: cert,
  keyPem: 'key',
});

function setup() {
  let saved: LoginState | undefined;
  let failStart: Error | undefined;
  const started: ScriptedAgent[] = [];
  const closed: number[] = [];
  const host = new AgentHost({
    loadLogin: () => saved,
    startAgent: async (l) => {
      if (failStart) throw failStart;
      const a = new ScriptedAgent({ state: 'no-session', server: l.profile.server, user: l.profile.user, clusters: [{ name: 'prod', context: 'tapgate-prod' }], now: 0 }) as ScriptedAgent & HostedAgent;
      const n = started.length;
      a.close = async () => void closed.push(n);
      started.push(a);
      return a;
    },
    server: () => 'https://gate.example.com',
    clock: new ManualClock(),
    log: () => undefined,
  });
  const pushes: AgentPush[] = [];
  host.subscribe((p) => pushes.push(p));
  return { host, started, closed, pushes, setLogin: (l?: LoginState) => (saved = l), setFail: (e?: Error) => (failStart = e) };
}

test('no login: the host answers as a no-session agent and says how to log in', async () => {
  const t = setup();
  await t.host.reload();
  const s = await t.host.status();
  assert.equal(s.state, 'no-session');
  assert.equal(s.server, 'https://gate.example.com');
  await assert.rejects(t.host.verifyNow(), /tapgate login --server https:\/\/gate.example.com/);
  assert.equal(t.started.length, 0);
});

test('a login appears: the agent starts and its pushes come through the host', async () => {
  const t = setup();
  await t.host.reload();
  t.setLogin(login('cert-1'));
  await t.host.reload();
  assert.equal(t.started.length, 1);
  assert.equal((await t.host.status()).user, 'alice');
  t.pushes.length = 0;
  t.started[0]!.push({ event: 'event', data: { kind: 'verified', at: 1, message: 'ok' } });
  assert.deepEqual(t.pushes.map((p) => p.event), ['event']);
  await t.host.verifyNow();
  assert.deepEqual(t.started[0]!.calls, ['verifyNow']);
});

test('the same login again changes nothing; a new `tapgate login` restarts the agent', async () => {
  const t = setup();
  t.setLogin(login('cert-1'));
  await t.host.reload();
  await t.host.reload();
  assert.equal(t.started.length, 1);
  t.setLogin(login('cert-2'));
  await t.host.reload();
  assert.equal(t.started.length, 2);
  assert.deepEqual(t.closed, [0]);
  t.pushes.length = 0;
  t.started[0]!.push({ event: 'event', data: { kind: 'verified', at: 1, message: 'old agent' } });
  assert.deepEqual(t.pushes, [], 'the old agent is no longer heard');
});

test('an agent that cannot start is an error state with the reason, retried on verify', async () => {
  const t = setup();
  t.setLogin(login('cert-1'));
  t.setFail(new Error('connect ECONNREFUSED 127.0.0.1:3025'));
  await t.host.reload();
  const s = await t.host.status();
  assert.equal(s.state, 'error');
  assert.match(s.error!, /could not start: connect ECONNREFUSED/);
  t.setFail(undefined);
  await t.host.verifyNow();
  assert.equal(t.started.length, 1);
});

test('a damaged profile is an error, not a crash', async () => {
  const t = setup();
  const h = new AgentHost({ loadLogin: () => { throw new Error('profile.json is damaged; run "tapgate login" again'); }, startAgent: async () => { throw new Error('unreachable'); }, server: () => undefined, clock: new ManualClock(), log: () => undefined });
  await h.reload();
  assert.match((await h.status()).error!, /damaged/);
  void t;
});
