import pg from 'pg';
import type { Logger } from 'pino';
import { TapgateError } from '../core/errors';
import type { Db } from './db';
import { migrate } from './migrations';

/** Payload passed to every listener after the notification connection was re-established. */
export const RESYNC_PAYLOAD = '';

/** Serialization failure and deadlock: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
/** Enough that a hot row (one bot instance renewing through every replica) still gets through. */
const TX_ATTEMPTS = 20;
/** Key of the session advisory lock that serialises migrations between replicas starting at once. */
const MIGRATION_LOCK_KEY = 0x74617067; // "tapg"

export interface PostgresOptions {
  /** Connections in the pool (besides the one listening for notifications). */
  poolSize?: number;
  log?: Logger;
}

type Queryable = pg.Pool | pg.PoolClient | pg.Client;

/**
 * PostgreSQL engine. Several gate replicas share one database: transactions run SERIALIZABLE
 * (the same guarantee SQLite's single writer gives, so read-then-write code stays correct) and are
 * retried on serialization failures; notifications go through LISTEN/NOTIFY on one dedicated
 * connection that reconnects by itself.
 */
export class PostgresDb implements Db {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private listener?: pg.Client;
  private connecting?: Promise<pg.Client>;
  private reconnectTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly opts: PostgresOptions = {},
  ) {
    this.pool = new pg.Pool({ ...clientConfig(url), max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle pooled connection that dies (database restart) must not crash the process.
    this.pool.on('error', (e) => this.opts.log?.warn({ err: e }, 'postgres: idle connection lost'));
  }

  all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return withRetry(() => query<T>(this.pool, sql, params)).then((r) => r.rows);
  }

  get<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return this.all<T>(sql, params).then((rows) => rows[0]);
  }

  run(sql: string, params: unknown[] = []): Promise<{ changes: number }> {
    return withRetry(() => query(this.pool, sql, params)).then((r) => ({ changes: r.rowCount ?? 0 }));
  }

  async tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        try {
          const out = await fn(this.bound(client));
          await client.query('COMMIT');
          return out;
        } catch (e) {
          try {
            await client.query('ROLLBACK');
          } catch (re) {
            broken = re as Error;
            throw e;
          }
          if (!isRetryable(e) || attempt >= TX_ATTEMPTS) throw e;
          await backoff(attempt);
        }
      }
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
      client.release(broken);
    }
  }

  /** A Db whose statements all run on one connection (the transaction's or the migration's). */
  private bound(client: pg.PoolClient): Db {
    const self = this;
    const db: Db = {
      engine: 'postgres',
      all: <T>(s: string, p: unknown[] = []) => query<T>(client, s, p).then((r) => r.rows),
      get: <T>(s: string, p: unknown[] = []) => query<T>(client, s, p).then((r) => r.rows[0]),
      run: (s, p = []) => query(client, s, p).then((r) => ({ changes: r.rowCount ?? 0 })),
      // Nested transactions join the outer one, as on SQLite.
      tx: (f) => f(db),
      listen: (c, m) => self.listen(c, m),
      // Inside a transaction PostgreSQL delivers the notification only if it commits.
      notify: (c, m) => query(client, 'SELECT pg_notify($1, $2)', [c, m]).then(() => undefined),
      close: () => Promise.resolve(),
    };
    return db;
  }

  /** Brings the schema up to date; replicas starting together take turns under an advisory lock. */
  async migrate(): Promise<number> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        const db: Db = {
          ...this.bound(client),
          // Migration steps are plain transactions on the locked connection, not SERIALIZABLE retries.
          tx: async (f) => {
            await client.query('BEGIN');
            try {
              const out = await f(db);
              await client.query('COMMIT');
              return out;
            } catch (e) {
              await client.query('ROLLBACK');
              throw e;
            }
          },
        };
        // No parameters: the simple query protocol runs several statements in one call.
        return await migrate({ db, exec: async (sql) => void (await client.query(sql)) });
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      client.release();
    }
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    let set = this.listeners.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(onMessage);
    if (first) {
      try {
        const client = await this.listenerClient();
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (e) {
        set.delete(onMessage);
        if (set.size === 0) this.listeners.delete(channel);
        throw e;
      }
    }
    return () => {
      const s = this.listeners.get(channel);
      if (!s?.delete(onMessage) || s.size > 0) return;
      this.listeners.delete(channel);
      this.listener?.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
    };
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.run('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const l = this.listener;
    this.listener = undefined;
    await Promise.allSettled([l?.end(), this.connecting?.then((c) => c.end())]);
    await this.pool.end();
  }

  private listenerClient(): Promise<pg.Client> {
    if (this.listener) return Promise.resolve(this.listener);
    this.connecting ??= this.connectListener().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connectListener(): Promise<pg.Client> {
    const client = new pg.Client({ ...clientConfig(this.url), keepAlive: true });
    client.on('notification', (n) => this.dispatch(n.channel, n.payload ?? ''));
    client.on('error', (e) => this.lost(client, e));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (const channel of this.listeners.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new TapgateError('store_closed', 'the store was closed while subscribing to notifications');
    }
    this.listener = client;
    // A half-open TCP connection delivers nothing and reports nothing: probe it now and then.
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      client.query('SELECT 1').catch((e: Error) => this.lost(client, e));
    }, 15_000);
    this.pingTimer.unref();
    return client;
  }

  private dispatch(channel: string, payload: string): void {
    for (const fn of [...(this.listeners.get(channel) ?? [])]) {
      try {
        fn(payload);
      } catch (e) {
        this.opts.log?.error({ err: e, channel }, 'postgres: notification handler failed');
      }
    }
  }

  /** The notification connection died: reconnect, re-LISTEN, then tell everyone to resync. */
  private lost(client: pg.Client, err?: Error): void {
    if (this.listener !== client || this.closed) return;
    this.listener = undefined;
    clearInterval(this.pingTimer);
    client.end().catch(() => undefined);
    this.opts.log?.warn({ err }, 'postgres: notification connection lost; reconnecting');
    this.scheduleReconnect(1);
  }

  private scheduleReconnect(attempt: number): void {
    if (this.closed || this.listeners.size === 0) return;
    const delay = Math.min(5_000, 50 * 2 ** (attempt - 1));
    this.reconnectTimer = setTimeout(() => {
      this.listenerClient().then(
        () => {
          this.opts.log?.info('postgres: notification connection restored');
          // Anything may have been notified while we were away.
          for (const channel of [...this.listeners.keys()]) this.dispatch(channel, RESYNC_PAYLOAD);
        },
        (e: Error) => {
          this.opts.log?.warn({ err: e, attempt }, 'postgres: reconnect failed');
          this.scheduleReconnect(attempt + 1);
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }
}

/** Opens a pool on `url`, checks that the database answers, and brings its schema up to date. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<PostgresDb> {
  const db = new PostgresDb(url, opts);
  try {
    await db.migrate();
  } catch (e) {
    await db.close().catch(() => undefined);
    if (e instanceof TapgateError || (e as { severity?: string }).severity) throw e;
    throw new TapgateError('store_unreachable', `cannot reach PostgreSQL at ${redact(url)}: ${(e as Error).message}; check storage.url and that the database is up`);
  }
  return db;
}

function clientConfig(url: string): pg.ClientConfig {
  // A black-holed database host fails a request after 10 s instead of holding it forever.
  return { connectionString: url, application_name: 'tapgate', connectionTimeoutMillis: 10_000, types: { getTypeParser } };
}

/** BIGINT (epoch ms, counts) as Number: every value Tapgate stores fits in 2^53. */
function getTypeParser(oid: number, format?: string): (v: string) => unknown {
  if (oid === pg.types.builtins.INT8) return (v: string) => Number(v);
  return pg.types.getTypeParser(oid, format as 'text');
}

/** Booleans are INTEGER 0/1 in the schema, as on SQLite. */
function query<T>(on: Queryable, sql: string, params: unknown[]): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
  const values = params.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v === undefined ? null : v));
  return on.query<T & pg.QueryResultRow>(sql, values);
}

/** One statement outside a transaction can still lose a deadlock; it had no effect, so run it again. */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!isRetryable(e) || attempt >= TX_ATTEMPTS) throw e;
      await backoff(attempt);
    }
  }
}

function isRetryable(e: unknown): boolean {
  return RETRYABLE.has((e as { code?: string }).code ?? '');
}

/** Full jitter, so the losers of one conflict do not collide again in lockstep. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(250, 4 * 2 ** attempt);
  return new Promise((r) => setTimeout(r, ms));
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable storage.url)';
  }
}
