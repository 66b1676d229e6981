import type { AuditLog } from '../audit/audit';
import type { Clock } from '../core/clock';
import { systemClock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { orderedId } from '../core/ordered-id';
import type { Identity } from '../pki/identity';
import type { Db } from '../store/db';
import { LOCK_TARGET_KINDS, matchLock, type Lock, type LockTargetKind } from './match';

export const LOCKS_CHANNEL = 'tapgate_locks';
const LOCK_POLL_MS = 500;

type Row = { id: string; target_kind: LockTargetKind; target: string; message: string; created_by: string; created_at: number; expires_at: number | null };

/**
 * Locks with an in-memory copy so the kube path checks them without a query. Every replica
 * reloads on a store notification (LISTEN/NOTIFY on PostgreSQL) and listeners are told, so live
 * streams of a newly locked identity are cut within a second.
 */
export class Locks {
  private cache: Lock[] = [];
  private readonly listeners = new Set<(locks: Lock[]) => void>();
  private unlisten?: () => void;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly clock: Clock = systemClock,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.unlisten = await this.db.listen(LOCKS_CHANNEL, () => void this.reload());
    // Expiry needs no event, and a lock written by another process (the admin CLI on SQLite)
    // sends none: a half-second poll keeps "a lock cuts streams within a second" true everywhere.
    this.timer = setInterval(() => void this.reload().catch(() => undefined), LOCK_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    this.unlisten?.();
    clearInterval(this.timer);
  }

  async reload(): Promise<void> {
    const rows = await this.db.all<Row>('SELECT * FROM locks');
    this.cache = rows.map(fromRow);
    for (const l of this.listeners) l(this.cache);
  }

  /** Called whenever the set of locks may have changed (new lock on any replica). */
  onChange(fn: (locks: Lock[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  match(id: Identity): Lock | undefined {
    return matchLock(this.cache, id, this.clock.now());
  }

  /** Throws the refusal a locked identity gets. */
  assertUnlocked(id: Identity): void {
    const l = this.match(id);
    if (l) throw lockedError(l);
  }

  async create(opts: { targetKind: LockTargetKind; target: string; message?: string; ttlMs?: number; createdBy: string }): Promise<Lock> {
    if (!LOCK_TARGET_KINDS.includes(opts.targetKind)) {
      throw new TapgateError('bad_lock', `unknown lock target "${opts.targetKind}"; use one of ${LOCK_TARGET_KINDS.join(', ')}`);
    }
    const now = this.clock.now();
    const lock: Lock = {
      id: orderedId(),
      targetKind: opts.targetKind,
      target: opts.target,
      message: opts.message ?? '',
      createdBy: opts.createdBy,
      createdAt: now,
      expiresAt: opts.ttlMs ? now + opts.ttlMs : null,
    };
    await this.db.run('INSERT INTO locks (id, target_kind, target, message, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      lock.id, lock.targetKind, lock.target, lock.message, lock.createdBy, lock.createdAt, lock.expiresAt,
    ]);
    await this.audit.record({ event: 'lock.created', outcome: 'ok', actor: opts.createdBy, data: { ...lock } });
    await this.db.notify(LOCKS_CHANNEL, lock.id);
    await this.reload();
    return lock;
  }

  async remove(id: string, actor: string): Promise<boolean> {
    const ok = (await this.db.run('DELETE FROM locks WHERE id = $1', [id])).changes > 0;
    if (ok) {
      await this.audit.record({ event: 'lock.removed', outcome: 'ok', actor, data: { id } });
      await this.db.notify(LOCKS_CHANNEL, id);
      await this.reload();
    }
    return ok;
  }

  /** Locks in force (expired ones are audited once and deleted). */
  async list(): Promise<Lock[]> {
    const now = this.clock.now();
    const expired = (await this.db.all<Row>('SELECT * FROM locks WHERE expires_at IS NOT NULL AND expires_at <= $1', [now])).map(fromRow);
    for (const l of expired) {
      if ((await this.db.run('DELETE FROM locks WHERE id = $1', [l.id])).changes > 0) {
        await this.audit.record({ event: 'lock.expired', outcome: 'ok', actor: 'system', data: { ...l } });
      }
    }
    if (expired.length) await this.reload();
    return (await this.db.all<Row>('SELECT * FROM locks ORDER BY created_at, id')).map(fromRow);
  }
}

export function lockedError(l: Lock): TapgateError {
  const until = l.expiresAt ? ` until ${new Date(l.expiresAt).toISOString()}` : '';
  const msg = l.message ? `: ${l.message}` : '';
  return new TapgateError('locked', `access is locked (${l.targetKind} ${l.target})${until}${msg}; ask an administrator to remove the lock`, { status: 403, auditReason: `locked: ${l.targetKind} ${l.target}` });
}

function fromRow(r: Row): Lock {
  return {
    id: r.id,
    targetKind: r.target_kind,
    target: r.target,
    message: r.message,
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  };
}
