import type { AuditLog } from '../audit/audit';
import { TapgateError } from '../core/errors';

/** What a ceremony has learned so far about who is acting; filled in as it goes. */
export interface AuditTrail {
  actor: string;
  data: Record<string, unknown>;
}

/**
 * Runs one step of a ceremony and writes its refusal to the audit log with the reason the error
 * carries, so no refusal path can forget to audit. Success is audited by the step itself.
 */
export async function audited<T>(audit: AuditLog, event: string, trail: AuditTrail, fn: (trail: AuditTrail) => Promise<T>): Promise<T> {
  try {
    return await fn(trail);
  } catch (e) {
    if (e instanceof TapgateError) {
      await audit.record({ event, outcome: 'refused', actor: trail.actor, reason: e.auditReason, data: { ...trail.data, code: e.code } });
    }
    throw e;
  }
}
