import type { Logger } from 'pino';
import type { Clock } from '../core/clock';
import { systemClock } from '../core/clock';
import { orderedId } from '../core/ordered-id';
import type { Db } from '../store/db';

export type AuditOutcome = 'ok' | 'refused';

export interface AuditEvent {
  event: string;
  outcome: AuditOutcome;
  /** who acted: "user:alice", "bot:ci/<instance>", "admin", "anonymous" */
  actor: string;
  reason?: string;
  data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<Omit<AuditEvent, 'reason'>> {
  id: string;
  ts: number;
  reason: string | null;
}

/** The audit log lives in the store so every replica writes to the same place. */
export class AuditLog {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock = systemClock,
    private readonly log?: Logger,
  ) {}

  async record(e: AuditEvent): Promise<AuditRecord> {
    const rec: AuditRecord = { id: orderedId(), ts: this.clock.now(), event: e.event, outcome: e.outcome, actor: e.actor, reason: e.reason ?? null, data: e.data ?? {} };
    await this.db.run('INSERT INTO audit (id, ts, event, outcome, actor, reason, data) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      rec.id, rec.ts, rec.event, rec.outcome, rec.actor, rec.reason, JSON.stringify(rec.data),
    ]);
    this.log?.info({ audit: rec }, `audit ${rec.event} ${rec.outcome}${rec.reason ? `: ${rec.reason}` : ''}`);
    return rec;
  }

  async list(q: { since?: number; event?: string; actor?: string; outcome?: AuditOutcome; limit?: number } = {}): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, v: unknown) => {
      params.push(v);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (q.since !== undefined) add('ts >= ?', q.since);
    if (q.event) add('event = ?', q.event);
    if (q.actor) add('actor = ?', q.actor);
    if (q.outcome) add('outcome = ?', q.outcome);
    params.push(q.limit ?? 1000);
    const rows = await this.db.all<Omit<AuditRecord, 'data'> & { data: string }>(
      `SELECT id, ts, event, outcome, actor, reason, data FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ASC, id ASC LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({ ...r, ts: Number(r.ts), data: JSON.parse(r.data) }));
  }
}
