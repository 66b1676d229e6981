import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { AuditEvent, AuditRecord } from '../../audit/audit';
import { ManualClock } from '../../core/clock';
import { RefusalAuditor } from './refusal-audit';
import { KubeRefusal } from './status';

function setup() {
  const clock = new ManualClock(0);
  const written: AuditEvent[] = [];
  const audit = { record: async (e: AuditEvent) => (written.push(e), {} as AuditRecord) };
  return { clock, written, auditor: new RefusalAuditor(audit, clock, pino({ level: 'silent' }), 30_000) };
}
const forbidden = new KubeRefusal('Forbidden', 'no', { status: 403, auditReason: 'cluster dev not in certificate' });
const lapsed = new KubeRefusal('MFARequired', 'tap', { status: 401, auditReason: 'MFA certificate expired' });

test('one record per connection and reason per window; repeats summarised when it closes', () => {
  const { clock, written, auditor } = setup();
  for (let i = 0; i < 100; i++) auditor.refused(1, 'user:alice', forbidden, { path: '/k/dev/api' });
  auditor.refused(1, 'user:alice', lapsed, {});
  auditor.refused(2, 'user:alice', forbidden, {});
  assert.equal(written.length, 3);
  assert.ok(written.every((e) => e.event === 'kube.request' && e.outcome === 'refused'));
  clock.advance(30_000);
  auditor.flush();
  assert.equal(written.length, 4);
  assert.equal(written[3]!.reason, 'cluster dev not in certificate');
  assert.equal(written[3]!.data?.repeated, 99);
  auditor.refused(1, 'user:alice', forbidden, {});
  assert.equal(written.length, 5, 'a new window opens after the old one closed');
});
