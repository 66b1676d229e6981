import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockFace, coarseDuration, spokenDuration } from './time-format';

test('clockFace', () => {
  assert.equal(clockFace(899_001), '15:00');
  assert.equal(clockFace(899_000), '14:59');
  assert.equal(clockFace(5_000), '0:05');
  assert.equal(clockFace(3_723_000), '1:02:03');
  assert.equal(clockFace(-10), '0:00');
});

test('spokenDuration', () => {
  assert.equal(spokenDuration(15 * 60_000), '15 minutes');
  assert.equal(spokenDuration(15 * 60_000 - 900), '15 minutes');
  assert.equal(spokenDuration(60_000), '1 minute');
  assert.equal(spokenDuration(45_000), '45 seconds');
  assert.equal(spokenDuration(90 * 60_000), '1 hour 30 minutes');
  assert.equal(spokenDuration(12 * 3_600_000), '12 hours');
});

test('coarseDuration', () => {
  assert.equal(coarseDuration(59_999), 'under a minute');
  assert.equal(coarseDuration(14 * 60_000 + 59_000), '14 min');
  assert.equal(coarseDuration(125 * 60_000), '2 h 5 min');
});
