import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock';
import { openDb } from '../store/open';
import { AuditLog } from './audit';

test('events recorded in the same millisecond are listed in the order they happened', async () => {
  const db = await openDb({ type: 'sqlite', path: ':memory:' });
  const audit = new AuditLog(db, new ManualClock(1_700_000_000_000));
  const events = Array.from({ length: 50 }, (_, i) => `event.${i}`);
  for (const event of events) await audit.record({ event, outcome: 'ok', actor: 'admin' });
  assert.deepEqual((await audit.list()).map((r) => r.event), events);
  await db.close();
});
