import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatus, ConnectionInfo } from '../client/agent-types';
import { ManualClock } from '../core/clock';
import { NotificationRules } from './notification-rules';
import { defaultSettings, type TraySettings } from './settings-store';

const clock = () => new ManualClock(Date.UTC(2026, 0, 1, 12));
const status = (now: number, over: Partial<AgentStatus> = {}): AgentStatus => ({ state: 'no-session', server: 'https://gate', user: 'alice', clusters: [{ name: 'prod', context: 'tapgate-prod' }], now, ...over });
const held = (now: number): ConnectionInfo => ({ id: 'c9', cluster: 'prod', kind: 'request', summary: 'get pods -n payments', startedAt: now, bytesIn: 0, bytesOut: 0, state: 'held', process: { pid: 4242, command: '/usr/bin/kubectl get pods -n payments' } });

function rules(toggles: Partial<TraySettings['notifications']> = {}): NotificationRules {
  return new NotificationRules(() => ({ ...defaultSettings().notifications, ...toggles }));
}

test('one minute before lapse fires once, however many statuses arrive', () => {
  const c = clock();
  const r = rules();
  const exp = c.now() + 15 * 60_000;
  const s = () => status(c.now(), { state: 'verified', mfaExpires: exp, mfaTtlMs: 900_000 });
  assert.deepEqual(r.onStatus(s(), c.now()), []);
  assert.equal(r.nextCheckAt(s(), c.now()), exp - 60_000);
  c.set(exp - 61_000);
  assert.deepEqual(r.onStatus(s(), c.now()), []);
  c.set(exp - 60_000);
  const fired = r.onStatus(s(), c.now());
  assert.deepEqual(fired.map((n) => n.kind), ['lapse-warning']);
  assert.deepEqual(fired[0]!.onClick, { type: 'verify' });
  for (let i = 0; i < 50; i++) {
    c.advance(1000);
    assert.deepEqual(r.onStatus(s(), c.now()), [], `fired again at +${i + 1}s`);
  }
  assert.equal(r.nextCheckAt(s(), c.now()), undefined);
});

test('after re-verifying, the next certificate gets its own warning', () => {
  const c = clock();
  const r = rules();
  let exp = c.now() + 30_000;
  r.onStatus(status(c.now(), { state: 'verified', mfaExpires: exp }), c.now()); // first sight: within the minute
  c.advance(10_000);
  exp = c.now() + 900_000;
  const after = r.onStatus(status(c.now(), { state: 'verified', mfaExpires: exp, mfaTtlMs: 900_000 }), c.now());
  assert.deepEqual(after.map((n) => n.title), ['Verified for 15 minutes']);
  c.set(exp - 59_000);
  assert.deepEqual(r.onStatus(status(c.now(), { state: 'verified', mfaExpires: exp }), c.now()).map((n) => n.kind), ['lapse-warning']);
});

test('an expired certificate does not get a late warning', () => {
  const c = clock();
  const r = rules();
  const exp = c.now() + 900_000;
  r.onStatus(status(c.now(), { state: 'verified', mfaExpires: exp }), c.now());
  c.set(exp + 1);
  assert.deepEqual(r.onStatus(status(c.now(), { state: 'no-session', mfaExpires: exp }), c.now()), []);
});

test('"verified for N minutes" names what the gate granted, not what was asked', () => {
  const c = clock();
  const r = rules();
  r.onStatus(status(c.now()), c.now());
  const n = r.onStatus(status(c.now(), { state: 'verified', mfaExpires: c.now() + 600_000, mfaTtlMs: 600_000 }), c.now());
  assert.equal(n[0]!.title, 'Verified for 10 minutes');
  assert.match(n[0]!.body, /prod/);
});

test('a tray started while already verified does not announce an old tap', () => {
  const c = clock();
  const r = rules();
  assert.deepEqual(r.onStatus(status(c.now(), { state: 'verified', mfaExpires: c.now() + 600_000 }), c.now()), []);
});

test('a held request notifies once per tap request, with the command and the process', () => {
  const c = clock();
  const r = rules();
  const pending = { id: 't1', tapUrl: 'https://gate/tap/t1', clusters: ['prod'], giveUpAt: c.now() + 120_000, held: [held(c.now())] };
  const s = status(c.now(), { state: 'waiting-for-tap', pendingTap: pending });
  const n = r.onStatus(s, c.now());
  assert.equal(n.length, 1);
  assert.equal(n[0]!.title, 'kubectl is waiting for your tap');
  assert.equal(n[0]!.body, 'prod: kubectl: get pods -n payments · gives up in 2:00');
  assert.deepEqual(n[0]!.onClick, { type: 'show-tap' });
  assert.deepEqual(r.onStatus({ ...s, pendingTap: { ...pending, held: [held(c.now()), held(c.now())] } }, c.now()), []);
  assert.equal(r.onStatus({ ...s, pendingTap: { ...pending, id: 't2' } }, c.now()).length, 1);
});

test('a tap the user asked for (nothing held) needs no notification: the window is already open', () => {
  const c = clock();
  const r = rules();
  const s = status(c.now(), { state: 'waiting-for-tap', pendingTap: { id: 't1', tapUrl: 'x', clusters: ['prod'], giveUpAt: c.now() + 60_000, held: [] } });
  assert.deepEqual(r.onStatus(s, c.now()), []);
});

test('locks and login expiry come from events', () => {
  const r = rules();
  const n = r.onEvent({ kind: 'locked', at: 0, message: 'locked by admin: incident 42' });
  assert.deepEqual(n.map((x) => [x.kind, x.body]), [['locked', 'locked by admin: incident 42']]);
  assert.equal(r.onEvent({ kind: 'login-expired', at: 0, message: '' })[0]!.kind, 'login-expired');
  assert.deepEqual(r.onEvent({ kind: 'verified', at: 0, message: '' }), []);
});

test('each toggle silences its notification and nothing else', () => {
  const c = clock();
  const r = rules({ lapseWarning: false, held: false, locked: false });
  r.onStatus(status(c.now()), c.now());
  const exp = c.now() + 30_000;
  assert.deepEqual(r.onStatus(status(c.now(), { state: 'verified', mfaExpires: exp, mfaTtlMs: 30_000 }), c.now()).map((n) => n.kind), ['verified']);
  assert.deepEqual(r.onEvent({ kind: 'locked', at: 0, message: 'x' }), []);
  const s = status(c.now(), { state: 'waiting-for-tap', pendingTap: { id: 't1', tapUrl: 'x', clusters: ['prod'], giveUpAt: c.now() + 60_000, held: [held(c.now())] } });
  assert.deepEqual(r.onStatus(s, c.now()), []);
});
