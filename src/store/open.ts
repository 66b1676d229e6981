import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Db, StorageConfig } from './db';
import { migrate } from './migrations';
import { SqliteDb } from './sqlite';

/** Opens the configured engine and brings its schema up to date. */
export async function openDb(cfg: StorageConfig): Promise<Db> {
  if (cfg.type === 'sqlite') {
    if (cfg.path !== ':memory:') mkdirSync(dirname(cfg.path), { recursive: true });
    const db = new SqliteDb(cfg.path);
    await migrate({ db, exec: async (sql) => db.exec(sql) });
    return db;
  }
  const { openPostgres } = await import('./postgres');
  return openPostgres(cfg.url);
}
