import assert from 'node:assert/strict';
import { test } from 'node:test';
import { orderedId } from './ordered-id';

test('ordered ids sort in creation order, also within one millisecond and when the clock steps back', () => {
  const ids = [orderedId(1_000), orderedId(1_000), orderedId(1_000), orderedId(999), orderedId(1_001), ...Array.from({ length: 5000 }, () => orderedId(2_000))];
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});

test('an ordered id is a version 7 UUID', () => {
  assert.match(orderedId(), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
