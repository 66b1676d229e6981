import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { contextOverlay, terminalLaunch, type TerminalInput } from './terminal';

const input = (over: Partial<TerminalInput>): TerminalInput => ({
  platform: 'linux',
  overlayPath: '/home/alice/.tapgate/tray/context-prod.yaml',
  kubeconfigPath: '/home/alice/.tapgate/kubeconfig',
  cluster: 'prod',
  context: 'tapgate-prod',
  env: {},
  has: () => false,
  ...over,
});

test('the overlay only picks the context, so use-context in one terminal stays in that terminal', () => {
  const doc = parse(contextOverlay('tapgate-prod'));
  assert.deepEqual(doc, { apiVersion: 'v1', kind: 'Config', 'current-context': 'tapgate-prod', clusters: [], contexts: [], users: [] });
});

test('Linux: $TERMINAL first, then the Debian alternative, with KUBECONFIG in the environment', () => {
  const t = terminalLaunch(input({ env: { TERMINAL: 'foot' }, has: (c) => c === 'foot' || c === 'xterm' }));
  assert.equal(t?.command, 'foot');
  assert.equal(t?.env.KUBECONFIG, '/home/alice/.tapgate/tray/context-prod.yaml:/home/alice/.tapgate/kubeconfig');
  assert.equal(terminalLaunch(input({ has: (c) => c === 'x-terminal-emulator' || c === 'xterm' }))?.command, 'x-terminal-emulator');
  assert.deepEqual(terminalLaunch(input({ has: (c) => c === 'xterm' }))?.args, ['-T', 'kubectl · prod']);
});

test('Linux without any terminal: undefined, so the tray can say so', () => {
  assert.equal(terminalLaunch(input({})), undefined);
});

test('macOS: Terminal.app via osascript, paths quoted for the shell', () => {
  const t = terminalLaunch(input({ platform: 'darwin', overlayPath: "/Users/o'brien/ctx.yaml", kubeconfigPath: '/Users/o b/kc' }))!;
  assert.equal(t.command, 'osascript');
  assert.match(t.args[1]!, /export KUBECONFIG='\/Users\/o'\\\\''brien\/ctx.yaml:\/Users\/o b\/kc'/);
});

test('Windows: a new cmd window, paths joined with ;', () => {
  const t = terminalLaunch(input({ platform: 'win32', overlayPath: 'C:\\o.yaml', kubeconfigPath: 'C:\\k' }))!;
  assert.equal(t.command, 'cmd.exe');
  assert.equal(t.env.KUBECONFIG, 'C:\\o.yaml;C:\\k');
});

test('onPath looks through PATH', async () => {
  const { onPath } = await import('./terminal');
  const seen: string[] = [];
  assert.equal(onPath('xterm', { PATH: '/a:/usr/bin' }, (p) => (seen.push(p), p === '/usr/bin/xterm')), true);
  assert.deepEqual(seen, ['/a/xterm', '/usr/bin/xterm']);
  assert.equal(onPath('nope', { PATH: '' }, () => true), false);
  assert.equal(onPath('/opt/x/term', {}, (p) => p === '/opt/x/term'), true);
});
