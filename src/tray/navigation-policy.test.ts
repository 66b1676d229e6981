import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTrustedSender, mayNavigate, windowOpenAction } from './navigation-policy';

const GATE = 'https://gate.example.com';

test('our pages never navigate', () => {
  assert.equal(mayNavigate('renderer', 'file:///opt/tapgate/dist/renderer/status/index.html', GATE), false);
  assert.equal(mayNavigate('renderer', 'https://gate.example.com/tap/1', GATE), false);
});

test("the gate's page stays on the gate", () => {
  assert.equal(mayNavigate('gate', 'https://gate.example.com/tap/2', GATE), true);
  assert.equal(mayNavigate('gate', 'https://gate.example.com.evil.io/tap/2', GATE), false);
  assert.equal(mayNavigate('gate', 'http://gate.example.com/tap/2', GATE), false);
  assert.equal(mayNavigate('gate', 'file:///etc/passwd', GATE), false);
  assert.equal(mayNavigate('gate', 'javascript:alert(1)', GATE), false);
  assert.equal(mayNavigate('gate', 'https://gate.example.com/', undefined), false);
});

test('window.open: gate links go to the browser, everything else is denied', () => {
  assert.equal(windowOpenAction('https://gate.example.com/help', GATE), 'open-external');
  assert.equal(windowOpenAction('https://evil.example.com/', GATE), 'deny');
  assert.equal(windowOpenAction('file:///bin/sh', GATE), 'deny');
  assert.equal(windowOpenAction('smb://host/share', GATE), 'deny');
});

test('only frames of our renderer may call the API', () => {
  const root = 'file:///opt/Tapgate/resources/app.asar/dist/renderer';
  assert.equal(isTrustedSender('file:///opt/Tapgate/resources/app.asar/dist/renderer/status/index.html#settings', root), true);
  assert.equal(isTrustedSender('file:///opt/Tapgate/resources/app.asar/dist/renderer-evil/x.html', root), false);
  assert.equal(isTrustedSender('https://gate.example.com/tap/1', root), false);
  assert.equal(isTrustedSender(undefined, root), false);
});
