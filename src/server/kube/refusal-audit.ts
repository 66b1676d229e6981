import type { Logger } from 'pino';
import type { AuditLog } from '../../audit/audit';
import type { Clock } from '../../core/clock';
import type { KubeRefusal } from './status';

interface Window {
  openedAt: number;
  suppressed: number;
  actor: string;
  reason: string;
  data: Record<string, unknown>;
}

/**
 * Audits kube refusals, at most one record per connection and reason per window: a client
 * retrying in a tight loop on one connection must not flood the store. Repeats are counted and
 * written as one summary record when the window closes.
 */
export class RefusalAuditor {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly audit: Pick<AuditLog, 'record'>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly windowMs = 30_000,
  ) {}

  refused(connId: number, actor: string, e: KubeRefusal, data: Record<string, unknown>): void {
    const key = `${connId}\n${e.auditReason}`;
    const now = this.clock.now();
    const w = this.windows.get(key);
    if (w && now - w.openedAt < this.windowMs) {
      w.suppressed++;
      return;
    }
    if (w) this.summarise(w);
    this.windows.set(key, { openedAt: now, suppressed: 0, actor, reason: e.auditReason, data });
    this.write(actor, e.auditReason, { ...data, status: e.status });
  }

  /** Writes the summaries of windows that have closed; the listener calls this from its sweep. */
  flush(all = false): void {
    const now = this.clock.now();
    for (const [key, w] of this.windows) {
      if (all || now - w.openedAt >= this.windowMs) {
        this.summarise(w);
        this.windows.delete(key);
      }
    }
  }

  private summarise(w: Window): void {
    if (w.suppressed > 0) this.write(w.actor, w.reason, { ...w.data, repeated: w.suppressed, windowMs: this.windowMs });
  }

  private write(actor: string, reason: string, data: Record<string, unknown>): void {
    this.audit.record({ event: 'kube.request', outcome: 'refused', actor, reason, data }).catch((err: unknown) => {
      this.log.error({ err }, 'kube listener: writing a refusal to the audit log failed');
    });
  }
}
