import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkElectron, type RuntimeProbe } from './electron-runtime';

const probe = (over: Partial<RuntimeProbe> & { files?: Record<string, string> }): RuntimeProbe => {
  const files = over.files ?? {};
  return {
    packageDir: '/repo/node_modules/electron',
    env: { DISPLAY: ':0' },
    platform: 'linux',
    exists: (p) => p in files,
    read: (p) => files[p],
    ...over,
  };
};

test('binary present and a display: the tray can run', () => {
  const r = checkElectron(probe({ files: { '/repo/node_modules/electron/path.txt': 'electron', '/repo/node_modules/electron/dist/electron': '' } }));
  assert.deepEqual(r, { ok: true, binary: '/repo/node_modules/electron/dist/electron' });
});

test('installed with ELECTRON_SKIP_BINARY_DOWNLOAD: says so', () => {
  const r = checkElectron(probe({ env: { DISPLAY: ':0', ELECTRON_SKIP_BINARY_DOWNLOAD: '1' } }));
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /no Electron binary.*ELECTRON_SKIP_BINARY_DOWNLOAD is set/);
});

test('no display on Linux: says so', () => {
  const r = checkElectron(probe({ env: {}, files: { '/repo/node_modules/electron/path.txt': 'electron', '/repo/node_modules/electron/dist/electron': '' } }));
  assert.deepEqual(r, { ok: false, reason: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' });
  const mac = checkElectron(probe({ env: {}, platform: 'darwin', files: { '/repo/node_modules/electron/path.txt': 'Electron.app/Contents/MacOS/Electron', '/repo/node_modules/electron/dist/Electron.app/Contents/MacOS/Electron': '' } }));
  assert.equal(mac.ok, true, 'macOS always has a display');
});

test('package missing entirely', () => {
  assert.deepEqual(checkElectron(probe({ packageDir: undefined })), { ok: false, reason: 'the electron npm package is not installed' });
});
