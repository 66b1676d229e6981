import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseServer, parseDeepLink, parseLaunchArgs } from './launch-args';

test('IDE launch: --cluster and --server', () => {
  const { request, warnings } = parseLaunchArgs(['--cluster', 'prod', '--server', 'https://gate.example.com/']);
  assert.deepEqual(request, { action: 'connect', cluster: 'prod', server: 'https://gate.example.com', source: 'argv' });
  assert.deepEqual(warnings, []);
});

test('--flag=value form and --verify', () => {
  const { request } = parseLaunchArgs(['--cluster=staging', '--verify']);
  assert.deepEqual(request, { action: 'verify', cluster: 'staging', source: 'argv' });
});

test('no arguments just opens (focuses) the tray', () => {
  assert.deepEqual(parseLaunchArgs([]).request, { action: 'open', source: 'argv' });
});

test("Chromium's own switches in a second instance's argv are ignored quietly", () => {
  const r = parseLaunchArgs(['--allow-file-access-from-files', '--original-process-start-time=1337', '--cluster', 'prod']);
  assert.equal(r.request.cluster, 'prod');
  assert.deepEqual(r.warnings, []);
});

test('deep links', () => {
  assert.deepEqual(parseDeepLink('tapgate://verify').request, { action: 'verify', source: 'deep-link' });
  assert.deepEqual(parseDeepLink('tapgate://verify/').request, { action: 'verify', source: 'deep-link' });
  assert.deepEqual(parseDeepLink('tapgate:verify').request, { action: 'verify', source: 'deep-link' });
  assert.deepEqual(parseDeepLink('TAPGATE://Connect?cluster=prod').request, { action: 'connect', cluster: 'prod', source: 'deep-link' });
  assert.deepEqual(parseLaunchArgs(['tapgate://connect?cluster=prod']).request, { action: 'connect', cluster: 'prod', source: 'deep-link' });
});

test('malicious or broken deep links fall back to just opening the tray', () => {
  const bad = [
    'tapgate://connect', // no cluster
    'tapgate://connect?cluster=../../etc/passwd',
    'tapgate://connect?cluster=prod&cluster=dev',
    'tapgate://connect?cluster=Prod;rm -rf',
    'tapgate://connect?cluster=%0aprod',
    'tapgate://run?cmd=calc.exe',
    'tapgate://user:pw@verify',
    'tapgate://verify:8080',
    'tapgate://verify/../../x',
    'tapgate://verify\n--server=https://evil.example',
    `tapgate://connect?cluster=${'a'.repeat(5000)}`,
    'tapgate://connect?cluster=' + 'a'.repeat(64),
    'javascript:alert(1)',
    'tapgate://%00verify',
  ];
  for (const link of bad) {
    const r = parseDeepLink(link);
    assert.deepEqual(r.request, { action: 'open', source: 'deep-link' }, link);
    assert.match(r.warnings[0] ?? '', /^ignored link/, link);
  }
});

test('a deep link cannot change the gate server', () => {
  const r = parseDeepLink('tapgate://connect?cluster=prod&server=https://evil.example');
  assert.equal(r.request.server, undefined);
  assert.equal(r.request.cluster, 'prod');
  assert.match(r.warnings.join(), /cannot change the gate server/);
});

test('flags smuggled next to a deep link (argument injection) are ignored', () => {
  const r = parseLaunchArgs(['--server', 'https://evil.example', 'tapgate://verify', '--cluster', 'prod', '--inspect=9229']);
  assert.deepEqual(r.request, { action: 'verify', source: 'deep-link' });
  assert.match(r.warnings.join(), /ignored command-line flags next to a deep link/);
});

test('bad --server and --cluster values are ignored with a reason', () => {
  const r = parseLaunchArgs(['--server', 'http://gate.example.com', '--cluster', '-rf']);
  assert.equal(r.request.server, undefined);
  assert.equal(r.request.cluster, undefined);
  assert.equal(r.warnings.length, 2);
  assert.match(r.warnings[0]!, /https/);
});

test('normaliseServer keeps the origin and allows plain http only on loopback', () => {
  assert.equal(normaliseServer('gate.example.com:8443'), 'https://gate.example.com:8443');
  assert.equal(normaliseServer('http://localhost:3025/login'), 'http://localhost:3025');
  assert.throws(() => normaliseServer('http://10.0.0.1'), /https/);
  assert.throws(() => normaliseServer('https://a:b@gate.example.com'), /user name/);
  assert.throws(() => normaliseServer('file:///etc/passwd'), /https/);
});
