/**
 * What the tray's UI tests share: the renderer built into a private directory (tests run in
 * parallel; none of them touches dist/), screenshots into docs/screenshots, and the tap window
 * put together the way the tray shows it (our shell above the gate's page).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { invokeNames } from '../../src/tray/ipc-channels';
import { rendererConfig } from '../../vite.config';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOTS = join(repoRoot, 'docs', 'screenshots');

export async function buildRenderer(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'tapgate-renderer-'));
  await build(rendererConfig(out));
  return out;
}

export async function screenshot(page: Page, name: string): Promise<Buffer> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const png = await page.screenshot({ path: join(SCREENSHOTS, name), animations: 'disabled' });
  return png;
}

/** The tap window as the tray lays it out: a title bar, our shell (250 px), the gate's page below. */
export async function composeTapWindow(browser: Browser, shell: Buffer, gate: Buffer, name: string): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 480, height: 800 } });
  const img = (b: Buffer) => `data:image/png;base64,${b.toString('base64')}`;
  await page.setContent(`<!doctype html><body style="margin:0;padding:20px;background:#d8dde4;font:13px system-ui">
    <div id="win" style="width:440px;border-radius:10px;overflow:hidden;box-shadow:0 8px 28px rgba(0,0,0,.28);background:#fff">
      <div style="height:30px;display:flex;align-items:center;justify-content:center;background:#eceff3;border-bottom:1px solid #cfd5dd;color:#333">Tapgate: tap your security key</div>
      <img src="${img(shell)}" style="display:block;width:440px"><img src="${img(gate)}" style="display:block;width:440px">
    </div></body>`);
  const win = await page.$('#win');
  writeFileSync(join(SCREENSHOTS, name), await win!.screenshot());
  await page.close();
}

/**
 * Stands in for the Electron preload in plain Chromium: a `window.tapgate` of kind 'electron'
 * over the status server's HTTP bridge, so a page renders as it does inside the tray's window
 * (e.g. the tap shell shows "Use my browser instead" rather than a link to the tap page).
 */
export async function emulateTrayPreload(page: Page): Promise<void> {
  // a string, not a function: the test's transpiled code must not leak helpers into the page
  await page.addInitScript(`(() => {
    const listeners = new Set();
    let source;
    const invoke = async (name, args) => {
      const r = await fetch('/api/invoke/' + name, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tapgate': '1' }, body: JSON.stringify({ args }) });
      const w = await r.json();
      if (w.error) throw new Error(w.error.message);
      return w.result;
    };
    const names = ${JSON.stringify(invokeNames)};
    const api = Object.fromEntries(names.map((n) => [n, (...args) => invoke(n, args)]));
    api.kind = 'electron';
    api.subscribe = (l) => {
      listeners.add(l);
      source = source || new EventSource('/api/push');
      source.onmessage = (m) => listeners.forEach((x) => x(JSON.parse(m.data)));
      return () => listeners.delete(l);
    };
    window.tapgate = Object.freeze(api);
  })();`);
}
