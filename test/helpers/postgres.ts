/**
 * A PostgreSQL database for one test file: on the server named by TAPGATE_PG_URL when set (CI
 * starts one with scripts/pg-test-cluster.sh), else on a throwaway cluster started here in a temp
 * dir on a free loopback port. Each call gets a fresh `t_<random>` database.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const SCRIPT = fileURLToPath(new URL('../../scripts/pg-test-cluster.sh', import.meta.url));

export interface TestPostgres {
  /** URL of a fresh database of its own. */
  url: string;
  /** Another fresh database on the same server (e.g. to migrate from nothing). */
  newDatabase(): Promise<string>;
  /** Drops the databases and stops the cluster if this helper started it. */
  stop(): Promise<void>;
}

export class PostgresUnavailable extends Error {}

export async function startTestPostgres(): Promise<TestPostgres> {
  let adminUrl = process.env.TAPGATE_PG_URL;
  let clusterDir: string | undefined;
  if (!adminUrl) {
    clusterDir = mkdtempSync(join(tmpdir(), 'tapgate-pg-'));
    const r = spawnSync('bash', [SCRIPT, 'start', clusterDir], { encoding: 'utf8', timeout: 60_000 });
    const m = /^TAPGATE_PG_URL=(\S+)$/m.exec(r.stdout ?? '');
    if (r.status !== 0 || !m) {
      spawnSync('bash', [SCRIPT, 'stop', clusterDir]);
      throw new PostgresUnavailable(`could not start a local PostgreSQL (${(r.stderr || r.error?.message || 'no output').trim().split('\n')[0]})`);
    }
    adminUrl = m[1]!;
    const dir = clusterDir;
    // A crashed test must not leave a postmaster running.
    process.once('exit', () => spawnSync('bash', [SCRIPT, 'stop', dir]));
  }
  const admin = adminUrl;
  const created: string[] = [];
  const newDatabase = async (): Promise<string> => {
    const name = `t_${randomBytes(6).toString('hex')}`;
    await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const u = new URL(admin);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const url = await newDatabase();
  return {
    url,
    newDatabase,
    async stop() {
      if (clusterDir) {
        spawnSync('bash', [SCRIPT, 'stop', clusterDir]);
        return;
      }
      await withClient(admin, async (c) => {
        for (const name of created) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}

/**
 * Like startTestPostgres, but a machine without PostgreSQL yields a reason to skip. In CI
 * (CI=true) there is no skipping: PostgreSQL must be there.
 */
export async function tryStartTestPostgres(): Promise<TestPostgres | { skip: string }> {
  try {
    return await startTestPostgres();
  } catch (e) {
    if (!(e instanceof PostgresUnavailable) || process.env.CI) throw e;
    const skip = `PostgreSQL tests skipped: TAPGATE_PG_URL is unset and ${e.message}; run "scripts/pg-test-cluster.sh install" (as root) or set TAPGATE_PG_URL`;
    console.log(`# ${skip}`);
    return { skip };
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
