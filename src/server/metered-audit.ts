import type { Logger } from 'pino';
import { AuditLog, type AuditEvent, type AuditRecord } from '../audit/audit';
import type { Clock } from '../core/clock';
import type { Db } from '../store/db';
import type { GateMetrics } from './metrics';

/** Certificates issued by these audit events, by usage. */
const ISSUING: Record<string, string> = { login: 'login', 'mfa.tap': 'mfa' };

/** The audit log, counting refusals and issued certificates into /metrics as it writes. */
export class MeteredAuditLog extends AuditLog {
  constructor(
    db: Db,
    clock: Clock,
    log: Logger,
    private readonly metrics: GateMetrics,
  ) {
    super(db, clock, log);
  }

  override async record(e: AuditEvent): Promise<AuditRecord> {
    const rec = await super.record(e);
    if (e.outcome === 'refused') this.metrics.refusals.inc({ event: e.event, code: String(e.data?.code ?? 'refused') });
    else if (ISSUING[e.event]) this.metrics.certsIssued.inc({ usage: ISSUING[e.event]! });
    return rec;
  }
}
