import type { Db } from './db';

/**
 * Versioned schema, portable between SQLite and PostgreSQL (TEXT, INTEGER, BIGINT only; times
 * are epoch ms; booleans INTEGER 0/1; JSON as TEXT). Append new versions; never edit old ones.
 */
export const migrations: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'gate foundation',
    sql: `
CREATE TABLE cas (kind TEXT PRIMARY KEY, cert_pem TEXT NOT NULL, key_pem TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE roles (name TEXT PRIMARY KEY, spec TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE users (name TEXT PRIMARY KEY, roles TEXT NOT NULL, webauthn_id TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE enrolments (token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE TABLE credentials (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, public_key TEXT NOT NULL, counter BIGINT NOT NULL, transports TEXT NOT NULL, name TEXT NOT NULL, created_at BIGINT NOT NULL, last_used_at BIGINT);
CREATE INDEX credentials_user ON credentials (user_name);
CREATE TABLE challenges (id TEXT PRIMARY KEY, purpose TEXT NOT NULL, challenge TEXT NOT NULL, user_name TEXT, data TEXT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT);
CREATE TABLE mfa_requests (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, clusters TEXT NOT NULL, ttl_ms BIGINT NOT NULL, public_key TEXT NOT NULL, requester TEXT NOT NULL, login_expires BIGINT NOT NULL, status TEXT NOT NULL, cert_pem TEXT, reason TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, decided_at BIGINT);
CREATE TABLE locks (id TEXT PRIMARY KEY, target_kind TEXT NOT NULL, target TEXT NOT NULL, message TEXT NOT NULL, created_by TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT);
CREATE INDEX locks_target ON locks (target_kind, target);
CREATE TABLE audit (id TEXT PRIMARY KEY, ts BIGINT NOT NULL, event TEXT NOT NULL, outcome TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT, data TEXT NOT NULL);
CREATE INDEX audit_ts ON audit (ts);
`,
  },
  {
    version: 2,
    name: 'machine identity',
    sql: `
CREATE TABLE bots (name TEXT PRIMARY KEY, roles TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE join_tokens (name TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, bot_name TEXT NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL, renewable INTEGER NOT NULL, expires_at BIGINT, created_at BIGINT NOT NULL, last_used_at BIGINT);
CREATE INDEX join_tokens_bot ON join_tokens (bot_name);
CREATE TABLE bot_instances (id TEXT PRIMARY KEY, bot_name TEXT NOT NULL, token_name TEXT NOT NULL, renewable INTEGER NOT NULL, joined_at BIGINT NOT NULL, generation INTEGER NOT NULL, not_after BIGINT NOT NULL, pending_generation INTEGER, pending_cert TEXT, pending_key_fp TEXT, pending_not_after BIGINT, join_key_fp TEXT NOT NULL, authentications TEXT NOT NULL, heartbeats TEXT NOT NULL, last_seen BIGINT NOT NULL);
CREATE INDEX bot_instances_join ON bot_instances (token_name, join_key_fp);
CREATE INDEX bot_instances_bot ON bot_instances (bot_name);
`,
  },
  {
    version: 3,
    name: 'login sessions',
    sql: `
CREATE TABLE login_sessions (id TEXT PRIMARY KEY, public_key TEXT NOT NULL, ttl_ms BIGINT, requester TEXT NOT NULL, code TEXT NOT NULL, status TEXT NOT NULL, user_name TEXT, cert_pem TEXT, login_expires BIGINT, reason TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, decided_at BIGINT);
ALTER TABLE mfa_requests ADD COLUMN login_identity TEXT;
ALTER TABLE mfa_requests ADD COLUMN capped_by TEXT;
ALTER TABLE mfa_requests ADD COLUMN not_after BIGINT;
ALTER TABLE mfa_requests ADD COLUMN issued_ttl_ms BIGINT;
`,
  },
];

export interface MigrationTarget {
  db: Db;
  /** Runs several DDL statements at once. */
  exec(sql: string): Promise<void>;
}

export async function migrate({ db, exec }: MigrationTarget): Promise<number> {
  await exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
  const rows = await db.all<{ version: number }>('SELECT version FROM schema_migrations');
  const done = new Set(rows.map((r) => Number(r.version)));
  let applied = 0;
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    await db.tx(async (t) => {
      await exec(m.sql);
      await t.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    });
    applied++;
  }
  return applied;
}
