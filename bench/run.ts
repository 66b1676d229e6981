/**
 * `npm run bench`: every benchmark in one run, each printed as a table beside its baselines
 * (measured in the same run), and all rows written to bench/results/<date>.json.
 * `npm run bench -- proxy pki` runs only those sections.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './row';

export type { Row };

const sections: { name: string; load: () => Promise<() => Promise<Row[]>> }[] = [
  { name: 'pki', load: async () => (await import('./pki')).benchPki },
  { name: 'proxy', load: async () => (await import('./proxy')).benchProxy },
  { name: 'watches', load: async () => (await import('./watches')).benchWatches },
  { name: 'bots', load: async () => (await import('./bots')).benchBots },
  { name: 'replicas', load: async () => (await import('./replicas')).benchReplicas },
];

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));

async function main() {
  const only = process.argv.slice(2);
  const all: Record<string, Row[]> = {};
  let failed = 0;
  for (const s of sections) {
    if (only.length && !only.includes(s.name)) continue;
    process.stdout.write(`\n== ${s.name} ==\n`);
    try {
      const fn = await s.load();
      const rows = await fn();
      all[s.name] = rows;
      console.table(rows.map((r) => ({ measure: r.name, value: fmt(r.value), unit: r.unit, baseline: r.baseline ?? '', goal: r.goal ?? '' })));
    } catch (e) {
      failed++;
      process.stdout.write(`${s.name}: failed: ${(e as Error).message}\n`);
    }
  }
  mkdirSync('bench/results', { recursive: true });
  const file = join('bench/results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, sections: all }, null, 2));
  process.stdout.write(`\nresults written to ${file}\n`);
  process.exit(failed ? 1 : 0);
}

await main();
