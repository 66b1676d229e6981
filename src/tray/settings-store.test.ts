import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SettingsStore, defaultSettings } from './settings-store';
import { SealedFile, type SecretBox } from './sealed-file';

const tmp = () => mkdtempSync(join(tmpdir(), 'tapgate-settings-'));

test('defaults: 15m TTL, every notification on, not started at login', () => {
  assert.deepEqual(defaultSettings(), { defaultTtl: '15m', startAtLogin: false, notifications: { lapseWarning: true, held: true, verified: true, locked: true } });
});

test('settings persist across restarts, 0600', () => {
  const d = tmp();
  const file = join(d, 'tray', 'settings.json');
  new SettingsStore(file).update({ server: 'gate.example.com', defaultTtl: '10m', notifications: { verified: false } });
  const again = new SettingsStore(file).get();
  assert.equal(again.server, 'https://gate.example.com');
  assert.equal(again.defaultTtl, '10m');
  assert.equal(again.notifications.verified, false);
  assert.equal(again.notifications.held, true);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  rmSync(d, { recursive: true, force: true });
});

test('bad values are refused with a message that says what to write', () => {
  const d = tmp();
  const s = new SettingsStore(join(d, 's.json'));
  assert.throws(() => s.update({ defaultTtl: 'soon' }), /write it like 90s, 15m/);
  assert.throws(() => s.update({ defaultTtl: '2s' }), /between 1m and 24h/);
  assert.throws(() => s.update({ server: 'http://gate.example.com' }), /https/);
  assert.throws(() => s.update({ startAtLogin: 'yes' }), /startAtLogin/);
  assert.throws(() => s.update({ evil: true }), /settings/);
  assert.equal(s.get().defaultTtl, '15m');
  rmSync(d, { recursive: true, force: true });
});

test('a broken settings file does not stop the tray', () => {
  const d = tmp();
  const file = join(d, 's.json');
  writeFileSync(file, '{"defaultTtl": 15');
  const s = new SettingsStore(file);
  assert.deepEqual(s.get(), defaultSettings());
  assert.match(s.loadError ?? '', /using defaults/);
  rmSync(d, { recursive: true, force: true });
});

/** A keychain stand-in: reversible, but the bytes on disk are not the secret. */
const fakeKeychain = (backend = 'gnome_libsecret'): SecretBox => ({
  isEncryptionAvailable: () => true,
  encryptString: (s) => Buffer.from(Buffer.from(s).map((b) => b ^ 0x5a)),
  decryptString: (b) => Buffer.from(b.map((x) => x ^ 0x5a)).toString(),
  getSelectedStorageBackend: () => backend,
});

const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

test('the login key is sealed by the OS keychain when there is one', () => {
  const d = tmp();
  const f = new SealedFile(join(d, 'login.key'), fakeKeychain());
  assert.equal(f.protected, true);
  f.write(KEY);
  const raw = readFileSync(join(d, 'login.key'));
  assert.ok(!raw.includes('PRIVATE KEY'), 'key must not be on disk in the clear');
  assert.equal(f.read(), KEY);
  rmSync(d, { recursive: true, force: true });
});

test("without a keychain (Linux basic_text) the key is stored 0600 and the tray says it is not protected", () => {
  const d = tmp();
  const f = new SealedFile(join(d, 'login.key'), fakeKeychain('basic_text'));
  assert.equal(f.protected, false);
  f.write(KEY);
  assert.equal(readFileSync(join(d, 'login.key'), 'utf8'), KEY);
  assert.equal(statSync(join(d, 'login.key')).mode & 0o777, 0o600);
  assert.equal(f.read(), KEY);
  rmSync(d, { recursive: true, force: true });
});

test('a sealed key that cannot be opened asks the user to log in again', () => {
  const d = tmp();
  new SealedFile(join(d, 'login.key'), fakeKeychain()).write(KEY);
  const broken: SecretBox = { ...fakeKeychain(), decryptString: () => { throw new Error('bad'); } };
  assert.throws(() => new SealedFile(join(d, 'login.key'), broken).read(), /another keychain or user; log in again/);
  assert.throws(() => new SealedFile(join(d, 'login.key'), undefined).read(), /not available now; log in again/);
  assert.equal(new SealedFile(join(d, 'nothing.key'), fakeKeychain()).read(), undefined);
  rmSync(d, { recursive: true, force: true });
});
