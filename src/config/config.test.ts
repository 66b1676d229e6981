import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TapgateError } from '../core/errors';
import { loadConfig, parseConfig } from './config';

test('no config at all gives a working embedded setup', () => {
  const c = parseConfig({});
  assert.equal(c.storage.type, 'sqlite');
  assert.equal(c.public_url, 'https://localhost:3025');
  assert.equal(c.rp_id, 'localhost');
  assert.equal(c.enrolment_ttl_ms, 3_600_000);
  assert.match(c.storage.type === 'sqlite' ? c.storage.path : '', /tapgate\.db$/);
});

test('an unknown key fails with a message naming it', () => {
  assert.throws(() => parseConfig({ listen: { api: '127.0.0.1:1', kueb: 'x' } }), (e: TapgateError) => e.code === 'bad_config' && /listen.*"kueb"/.test(e.message));
  assert.throws(() => parseConfig({ strorage: {} }), /unknown key "strorage"/);
});

test('a wrong value names the key and the fix', () => {
  assert.throws(() => parseConfig({ listen: { api: 'localhost' } }), /listen\.api: write it as host:port/);
  assert.throws(() => parseConfig({ storage: { type: 'postgres', url: 'mysql://x' } }), /storage\.url: use a postgres:\/\/ URL/);
  assert.throws(() => parseConfig({ clusters: [{ name: 'a' }, { name: 'a' }] }), /"a" appears twice/);
  assert.throws(() => parseConfig({ enrolment_ttl: 'soon' }), /enrolment_ttl "soon" is not a duration/);
});

test('YAML errors are reported without a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-cfg-'));
  const f = join(dir, 'tapgate.yaml');
  writeFileSync(f, 'listen: [unclosed');
  assert.throws(() => loadConfig(f), (e: TapgateError) => e.code === 'bad_config' && e.message.startsWith(`${f} is not valid YAML`));
  assert.throws(() => loadConfig(join(dir, 'missing.yaml')), /cannot read config file/);
});
