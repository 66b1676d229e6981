import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import type { Db } from './db';

type Prepared = { stmt: Database.Statement; order: number[]; reader: boolean };

/**
 * SQLite engine (better-sqlite3, WAL). Calls are synchronous underneath; transactions are
 * serialised with a promise chain so an `await` inside one never lets another request's
 * statements slip into it.
 */
export class SqliteDb implements Db {
  readonly engine = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Prepared>();
  private readonly bus = new EventEmitter();
  private chain: Promise<unknown> = Promise.resolve();
  private inTx = false;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.bus.setMaxListeners(0);
  }

  private prepare(sql: string): Prepared {
    let p = this.cache.get(sql);
    if (!p) {
      const order: number[] = [];
      const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return '?';
      });
      const stmt = this.db.prepare(text);
      p = { stmt, order, reader: stmt.reader };
      this.cache.set(sql, p);
    }
    return p;
  }

  private bind(p: Prepared, params: unknown[]): unknown[] {
    return p.order.map((i) => {
      const v = params[i];
      if (typeof v === 'boolean') return v ? 1 : 0;
      return v === undefined ? null : v;
    });
  }

  /** Outside a transaction, wait for any open one so its statements stay its own. */
  private async gate<T>(fn: () => T): Promise<T> {
    if (this.inTx) await this.chain.catch(() => undefined);
    return fn();
  }

  all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.gate(() => {
      const p = this.prepare(sql);
      return p.stmt.all(...this.bind(p, params)) as T[];
    });
  }

  get<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return this.gate(() => {
      const p = this.prepare(sql);
      return (p.reader ? p.stmt.get(...this.bind(p, params)) : p.stmt.all(...this.bind(p, params))[0]) as T | undefined;
    });
  }

  run(sql: string, params: unknown[] = []): Promise<{ changes: number }> {
    return this.gate(() => {
      const p = this.prepare(sql);
      if (p.reader) return { changes: p.stmt.all(...this.bind(p, params)).length };
      return { changes: p.stmt.run(...this.bind(p, params)).changes };
    });
  }

  tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const inner: Db = {
      engine: 'sqlite',
      all: (s, p = []) => Promise.resolve(this.direct('all', s, p)),
      get: (s, p = []) => Promise.resolve(this.direct('get', s, p)),
      run: (s, p = []) => Promise.resolve(this.direct('run', s, p)),
      tx: (f) => f(inner),
      listen: (c, m) => this.listen(c, m),
      notify: (c, m) => this.notify(c, m),
      close: () => Promise.resolve(),
    } as Db;
    const next = this.chain.catch(() => undefined).then(async () => {
      this.inTx = true;
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(inner);
        this.db.exec('COMMIT');
        return out;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      } finally {
        this.inTx = false;
      }
    });
    this.chain = next;
    return next;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private direct(kind: 'all' | 'get' | 'run', sql: string, params: unknown[]): any {
    const p = this.prepare(sql);
    const args = this.bind(p, params);
    if (kind === 'all') return p.stmt.all(...args);
    if (kind === 'get') return p.reader ? p.stmt.get(...args) : p.stmt.all(...args)[0];
    if (p.reader) return { changes: p.stmt.all(...args).length };
    return { changes: p.stmt.run(...args).changes };
  }

  /** Runs DDL (several statements); used by migrations only. */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  async listen(channel: string, onMessage: (payload: string) => void): Promise<() => void> {
    this.bus.on(channel, onMessage);
    return () => this.bus.off(channel, onMessage);
  }

  async notify(channel: string, payload: string): Promise<void> {
    this.bus.emit(channel, payload);
  }

  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    this.db.close();
  }
}
