import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { allTrayIconFiles, ICON_STATES, trayIconFile } from './tray-icons';

const ASSETS = fileURLToPath(new URL('../../assets/tray/', import.meta.url));

test('platform-correct icon files per state', () => {
  assert.equal(trayIconFile('verified', 'darwin', true), 'mac/tray-verifiedTemplate.png');
  assert.equal(trayIconFile('waiting', 'win32', true), 'win/tray-waiting-dark.ico');
  assert.equal(trayIconFile('waiting', 'win32', false), 'win/tray-waiting-light.ico');
  assert.equal(trayIconFile('error', 'linux', false), 'linux/tray-error.png');
  assert.equal(new Set(ICON_STATES.map((s) => trayIconFile(s, 'linux', false))).size, ICON_STATES.length, 'each state looks different');
});

test('every icon file exists and is a real PNG or ICO', () => {
  for (const f of allTrayIconFiles()) {
    const p = `${ASSETS}${f}`;
    assert.ok(existsSync(p), `${f} missing: run npx tsx scripts/make-icons.ts`);
    const head = readFileSync(p).subarray(0, 8);
    if (f.endsWith('.png')) assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], f);
    else assert.deepEqual([...head.subarray(0, 4)], [0, 0, 1, 0], f);
  }
});

test('macOS template images are black with alpha only', () => {
  // PNG colour type 6 (RGBA); the encoder writes pure black pixels, checked by make-icons' own assertion
  const png = readFileSync(`${ASSETS}mac/tray-verifiedTemplate.png`);
  assert.equal(png[25], 6);
});
