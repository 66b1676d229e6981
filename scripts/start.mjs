#!/usr/bin/env node
// `npm start`: the tray app where Electron can run. Where it cannot (no Electron binary, no
// display) it says why in one line and runs the same agent headless with the browser tap:
// `tapgate up`. Arguments after `npm start --` go to whichever starts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { checkElectron, probeHere } = await import('../src/tray/electron-runtime.ts');
const args = process.argv.slice(2);
const check = checkElectron(probeHere(root));

function run(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: 'inherit', cwd: root });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** Newest modification time under the given paths. */
function newest(paths) {
  let t = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else t = Math.max(t, s.mtimeMs);
  };
  paths.forEach((p) => walk(join(root, p)));
  return t;
}

if (check.ok) {
  const bundle = join(root, 'dist-electron', 'main.cjs');
  const built = existsSync(bundle) && existsSync(join(root, 'dist', 'renderer', 'status', 'index.html')) ? statSync(bundle).mtimeMs : 0;
  if (built < newest(['electron', 'src', 'renderer'])) {
    console.error('Tapgate: building the tray (vite build)…');
    const b = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { stdio: 'inherit', cwd: root });
    if (b.status !== 0) process.exit(b.status ?? 1);
  }
  run(check.binary, [root, ...args]);
} else {
  console.error(`Tapgate: the tray app cannot start here (${check.reason}); running the headless agent with the browser tap instead: tapgate up`);
  run(process.execPath, [join(root, 'bin', 'tapgate.mjs'), 'up', ...args]);
}
