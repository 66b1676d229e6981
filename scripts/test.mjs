// Runs every *.test.ts under src/, electron/ and test/ with node's test runner (through tsx).
// `node scripts/test.mjs unit` runs only the fast unit tests (src/, electron/, test/unit).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const only = process.argv[2];
const roots = only === 'unit' ? ['src', 'electron', 'test/unit'] : ['src', 'electron', 'test'];
const files = [];
const walk = (dir) => {
  let entries;
  try { entries = readdirSync(dir); } catch { return; }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
roots.forEach(walk);
files.sort();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', '--test-force-exit', ...files], { stdio: 'inherit', env: { ...process.env, TAPGATE_TEST: '1' } });
process.exit(r.status ?? 1);
