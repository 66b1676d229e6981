/**
 * One store interface, two engines. Every concern (users, locks, bots, ...) writes portable SQL
 * against `Db` with `$1, $2` placeholders; the SQLite engine rewrites them, PostgreSQL takes them
 * as they are. Booleans are INTEGER 0/1, times are BIGINT epoch ms, JSON is TEXT.
 */
export interface Db {
  readonly engine: 'sqlite' | 'postgres';
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T | undefined>;
  run(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  /** Runs fn in one transaction; everything fn does through the given Db commits or rolls back together. */
  tx<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** Subscribes to a notification channel (PostgreSQL LISTEN; in-process for SQLite). */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => void>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export type StorageConfig =
  | { type: 'sqlite'; path: string }
  | { type: 'postgres'; url: string };
