import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveProfile, type LoginState } from '../client/profile';
import type { SecretBox } from './sealed-file';
import { loadTrayLogin } from './sealed-login';

const keychain = (backend = 'gnome_libsecret'): SecretBox => ({
  isEncryptionAvailable: () => true,
  encryptString: (s) => Buffer.from(Buffer.from(s).map((b) => b ^ 0x5a)),
  decryptString: (b) => Buffer.from(b.map((x) => x ^ 0x5a)).toString(),
  getSelectedStorageBackend: () => backend,
});

const login: LoginState = {
  profile: { server: 'https://gate.example.com', user: 'alice', caPem: '', loginExpires: Date.now() + 3_600_000, roles: ['access'] },
  certPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n',
};

test('the tray seals the login key in place on first read, and reads it back sealed', () => {
  const home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
  saveProfile(login, home);
  const first = loadTrayLogin(home, keychain());
  assert.equal(first?.keyPem, login.keyPem);
  const onDisk = readFileSync(join(home, 'login.key'), 'utf8');
  assert.ok(onDisk.startsWith('tapgate-sealed-v1\n'), 'sealed on disk');
  assert.ok(!onDisk.includes('PRIVATE KEY'));
  assert.equal(statSync(join(home, 'login.key')).mode & 0o777, 0o600);
  assert.deepEqual(loadTrayLogin(home, keychain()), login);
  rmSync(home, { recursive: true, force: true });
});

test('without a keychain the key stays as the CLI wrote it', () => {
  const home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
  saveProfile(login, home);
  assert.deepEqual(loadTrayLogin(home, keychain('basic_text')), login);
  assert.equal(readFileSync(join(home, 'login.key'), 'utf8'), login.keyPem);
  rmSync(home, { recursive: true, force: true });
});

test('no login yet: undefined, not an error', () => {
  const home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
  assert.equal(loadTrayLogin(home, keychain()), undefined);
  rmSync(home, { recursive: true, force: true });
});

test('a key sealed elsewhere tells the user to log in again', () => {
  const home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
  saveProfile(login, home);
  loadTrayLogin(home, keychain());
  assert.throws(() => loadTrayLogin(home, { ...keychain(), decryptString: () => { throw new Error('x'); } }), /log in again/);
  rmSync(home, { recursive: true, force: true });
});
