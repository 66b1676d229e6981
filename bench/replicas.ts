/**
 * Bot renewals per second through real gates (each in its own process, HTTPS + client
 * certificate per renewal, as bots do it): one replica on SQLite, one and two replicas on one
 * PostgreSQL database, in one run. `node --import tsx bench/replicas.ts` prints the table.
 * PostgreSQL runs with fsync off (scripts/pg-test-cluster.sh), as SQLite runs WAL with
 * synchronous=NORMAL: neither waits for the disk on commit. Client, gates and database share
 * the machine's cores, so the CPU rows (gate processes only) say more than wall-clock rates on
 * a busy machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AuditLog } from '../src/audit/audit';
import { RoleRepo } from '../src/auth/roles';
import { BotAdmin } from '../src/bots/admin';
import { systemClock } from '../src/core/clock';
import { openDb } from '../src/store/open';
import type { StorageConfig } from '../src/store/db';
import { startTestPostgres } from '../test/helpers/postgres';
import { BotClient, newBotKey, Replica, type BotCreds, type BotKey } from '../test/helpers/replica';
import type { Row } from './row';


/** Bots renewing at once, each in a loop. */
const CLIENTS = 16;
const WINDOW_MS = Number(process.env.TAPGATE_BENCH_WINDOW_MS ?? 4_000);

interface Result {
  rate: number;
  failed: number;
  /** CPU of the gate processes per renewal (the database's own CPU is not counted) */
  gateCpuMs: number;
}

async function measure(storage: StorageConfig, replicas: number, dataDir: string): Promise<Result> {
  const config = { data_dir: dataDir, listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, storage, log_level: 'silent' };
  // The first replica migrates (and on SQLite owns the file); the others join it.
  const first = await Replica.start(config);
  const gates = [first, ...(await Promise.all(Array.from({ length: replicas - 1 }, () => Replica.start(config))))];
  const db = await openDb(storage);
  const client = new BotClient();
  try {
    const admin = new BotAdmin({ db, roles: new RoleRepo(db), audit: new AuditLog(db), clock: systemClock });
    await admin.addBot('bench', ['access']);
    const { text } = await admin.addToken({ bot: 'bench', maxUses: CLIENTS, ttlMs: 3_600_000, renewable: true });
    const bots: { key: BotKey; creds: BotCreds; gate: Replica }[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const key = newBotKey();
      const gate = gates[i % gates.length]!;
      const joined = await client.join(gate, text, key);
      if (joined.status !== 200) throw new Error(`join failed: ${joined.status} ${JSON.stringify(joined.body)}`);
      bots.push({ key, creds: joined.body as unknown as BotCreds, gate });
    }
    let done = 0;
    let failed = 0;
    const loop = async (bot: (typeof bots)[number], until: number, count: boolean) => {
      while (Date.now() < until) {
        const r = await client.renew(bot.gate, bot.creds, bot.key);
        if (r.status === 200) {
          bot.creds = r.body as unknown as BotCreds;
          if (count) done++;
        } else if (count) failed++;
      }
    };
    await Promise.all(bots.map((b) => loop(b, Date.now() + 500, false))); // warm-up
    const cpu = async () => (await Promise.all(gates.map((g) => g.cpuMicros()))).reduce((x, y) => x + y, 0);
    const cpu0 = await cpu();
    const t0 = performance.now();
    const until = Date.now() + WINDOW_MS;
    await Promise.all(bots.map((b) => loop(b, until, true)));
    const seconds = (performance.now() - t0) / 1000;
    return { rate: done / seconds, failed, gateCpuMs: ((await cpu()) - cpu0) / 1000 / Math.max(1, done) };
  } finally {
    await client.close();
    await db.close();
    await Promise.allSettled(gates.map((g) => g.stop()));
  }
}

export async function benchReplicas(): Promise<Row[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'tapgate-bench-replicas-'));
  const pg = await startTestPostgres();
  try {
    const sqlite = await measure({ type: 'sqlite', path: join(tmp, 'sqlite', 'tapgate.db') }, 1, join(tmp, 'sqlite'));
    const pg1 = await measure({ type: 'postgres', url: await pg.newDatabase() }, 1, join(tmp, 'pg1'));
    const pg2 = await measure({ type: 'postgres', url: await pg.newDatabase() }, 2, join(tmp, 'pg2'));
    const x = (v: number, of: number) => `${(v / of).toFixed(2)}x`;
    const failures = (r: Result) => (r.failed ? `, ${r.failed} refused` : '');
    return [
      { name: `renewals, SQLite, 1 replica (${CLIENTS} bots)`, value: sqlite.rate, unit: 'renewals/s', baseline: `same run${failures(sqlite)}` },
      { name: `renewals, PostgreSQL, 1 replica (${CLIENTS} bots)`, value: pg1.rate, unit: 'renewals/s', baseline: `SQLite ${Math.round(sqlite.rate)}/s (${x(pg1.rate, sqlite.rate)})${failures(pg1)}` },
      { name: `renewals, PostgreSQL, 2 replicas (${CLIENTS} bots)`, value: pg2.rate, unit: 'renewals/s', baseline: `1 replica ${Math.round(pg1.rate)}/s (${x(pg2.rate, pg1.rate)})${failures(pg2)}` },
      { name: 'gate CPU per renewal, SQLite', value: sqlite.gateCpuMs, unit: 'ms' },
      { name: 'gate CPU per renewal, PostgreSQL, 1 replica', value: pg1.gateCpuMs, unit: 'ms', baseline: `SQLite ${sqlite.gateCpuMs.toFixed(2)} ms (${x(pg1.gateCpuMs, sqlite.gateCpuMs)})` },
      { name: 'gate CPU per renewal, PostgreSQL, 2 replicas (both)', value: pg2.gateCpuMs, unit: 'ms', baseline: `1 replica ${pg1.gateCpuMs.toFixed(2)} ms (${x(pg2.gateCpuMs, pg1.gateCpuMs)})` },
    ];
  } finally {
    await pg.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await benchReplicas());
}
