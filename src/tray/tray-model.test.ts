import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentStatus, ConnectionInfo } from '../client/agent-types';
import { iconState, trayView, type MenuEntry, type TrayAction } from './tray-model';

const NOW = Date.UTC(2026, 0, 1, 12);
const base: AgentStatus = {
  state: 'no-session',
  server: 'https://gate.example.com',
  clusters: [
    { name: 'prod', context: 'tapgate-prod' },
    { name: 'staging', context: 'tapgate-staging' },
  ],
  kubeconfigPath: '/home/alice/.tapgate/kubeconfig',
  now: NOW,
};
const verified = (leftMs: number): AgentStatus => ({ ...base, state: 'verified', user: 'alice', loginExpires: NOW + 11 * 3_600_000 + 20 * 60_000, mfaExpires: NOW + leftMs, mfaTtlMs: 900_000 });
const conn = (state: 'active' | 'held'): ConnectionInfo => ({ id: 'c1', cluster: 'prod', kind: 'exec', summary: 'exec -it web-1 -- sh', startedAt: NOW - 5000, bytesIn: 10, bytesOut: 20, state });

const labels = (menu: MenuEntry[]): string[] => menu.map((m) => (m.kind === 'separator' ? '---' : m.label));
const find = (menu: MenuEntry[], label: string | RegExp): MenuEntry => {
  const hit = menu.find((m) => m.kind !== 'separator' && (typeof label === 'string' ? m.label === label : label.test(m.label)));
  assert.ok(hit, `no menu entry ${label} in ${labels(menu).join(' | ')}`);
  return hit;
};
const actionOf = (m: MenuEntry): TrayAction | undefined => (m.kind === 'item' ? m.action : undefined);

test('icon state follows the agent, with "lapsing" worked out from the clock', () => {
  assert.equal(iconState(undefined, NOW), 'idle');
  assert.equal(iconState(base, NOW), 'idle');
  assert.equal(iconState(verified(900_000), NOW), 'verified');
  assert.equal(iconState(verified(60_000), NOW), 'lapsing');
  assert.equal(iconState(verified(0), NOW), 'idle');
  assert.equal(iconState({ ...base, state: 'waiting-for-tap' }, NOW), 'waiting');
  assert.equal(iconState({ ...base, state: 'error', error: 'gate unreachable' }, NOW), 'error');
});

test('verified: countdown in tooltip and title, coarse countdown in the menu', () => {
  const v = trayView(verified(14 * 60_000 + 59_000), [], NOW);
  assert.equal(v.icon, 'verified');
  assert.equal(v.title, '14:59');
  assert.equal(v.tooltip, 'Tapgate: verified, 14:59 left (prod, staging)');
  assert.deepEqual(labels(v.menu), [
    'Verified · 14 min left',
    'alice · gate.example.com · session ends in 11 h 20 min',
    '---',
    'Extend now (tap)',
    'Forget MFA now',
    '---',
    'Clusters',
    'Connections…',
    'Settings…',
    '---',
    'Quit Tapgate',
  ]);
  assert.deepEqual(actionOf(find(v.menu, 'Forget MFA now')), { type: 'forget' });
});

test('the menu does not change every second, so it is not rebuilt every second', () => {
  const a = trayView(verified(14 * 60_000 + 59_000), [], NOW);
  const b = trayView(verified(14 * 60_000 + 58_000), [], NOW);
  assert.deepEqual(a.menu, b.menu);
  assert.notEqual(a.title, b.title);
});

test('lapsing: the status line says to tap', () => {
  const v = trayView(verified(45_000), [], NOW);
  assert.equal(v.icon, 'lapsing');
  assert.equal(v.title, '0:45');
  assert.equal(labels(v.menu)[0], 'MFA lapses in under a minute · tap to extend');
});

test('waiting for a tap: show and cancel are in the menu (no click on Linux)', () => {
  const s: AgentStatus = { ...base, state: 'waiting-for-tap', user: 'alice', pendingTap: { id: 't1', tapUrl: 'https://gate.example.com/tap/t1', clusters: ['prod'], giveUpAt: NOW + 100_000, held: [conn('held')] } };
  const v = trayView(s, [conn('held')], NOW);
  assert.equal(v.icon, 'waiting');
  assert.equal(v.title, 'tap');
  assert.match(v.tooltip, /gives up in 1:40/);
  assert.equal(labels(v.menu)[0], 'Tap your security key · 1 request waiting');
  assert.deepEqual(actionOf(find(v.menu, 'Show tap window')), { type: 'show-tap' });
  assert.deepEqual(actionOf(find(v.menu, 'Cancel tap request')), { type: 'cancel-tap' });
  assert.equal(find(v.menu, 'Forget MFA now').kind === 'item' && (find(v.menu, 'Forget MFA now') as { enabled: boolean }).enabled, false);
});

test('no session: tells the user how to log in; forget is disabled', () => {
  const v = trayView(base, [], NOW);
  assert.equal(v.icon, 'idle');
  assert.equal(v.title, '');
  assert.equal(labels(v.menu)[0], 'Not logged in · run tapgate login');
  assert.equal(v.tooltip, 'Tapgate: not logged in');
  const forget = find(v.menu, 'Forget MFA now');
  assert.equal(forget.kind === 'item' && forget.enabled, false);
});

test('logged in but MFA lapsed', () => {
  const v = trayView({ ...verified(-1), state: 'no-session' }, [], NOW);
  assert.equal(labels(v.menu)[0], 'Not verified · next kubectl call asks for a tap');
  assert.equal(find(v.menu, /^Verify now/).kind, 'item');
});

test('error: shown on one line and the tooltip stays under 128 characters', () => {
  const v = trayView({ ...base, state: 'error', error: `gate unreachable:\n${'x'.repeat(300)}` }, [], NOW);
  assert.equal(v.icon, 'error');
  assert.ok(v.tooltip.length <= 127);
  assert.ok(!labels(v.menu)[0]!.includes('\n'));
  assert.ok(labels(v.menu)[0]!.length <= 90);
});

test('clusters submenu: copy context name and open a terminal per cluster', () => {
  const v = trayView(verified(900_000), [conn('active')], NOW);
  const clusters = find(v.menu, 'Clusters');
  assert.equal(clusters.kind, 'submenu');
  if (clusters.kind !== 'submenu') return;
  const prod = clusters.items[0]!;
  assert.equal(prod.kind === 'submenu' && prod.label, 'prod');
  if (prod.kind !== 'submenu') return;
  assert.deepEqual(prod.items.map(actionOf), [
    { type: 'copy-context', context: 'tapgate-prod' },
    { type: 'open-terminal', cluster: 'prod' },
  ]);
  assert.equal(labels(v.menu).includes('Connections… (1 live)'), true);
});

test('no clusters yet: the submenu is disabled, not empty', () => {
  const v = trayView({ ...base, clusters: [] }, [], NOW);
  const clusters = find(v.menu, 'Clusters');
  assert.equal(clusters.kind === 'submenu' && clusters.enabled, false);
});

test('before the first status arrives', () => {
  const v = trayView(undefined, [], NOW);
  assert.equal(labels(v.menu)[0], 'Starting…');
  const verify = find(v.menu, /^Verify now/);
  assert.equal(verify.kind === 'item' && verify.enabled, false);
});
