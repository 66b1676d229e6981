import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, checkAgentTimes, renewalDelay } from './schedule';

const M = 60_000;
const H = 60 * M;

describe('checkAgentTimes', () => {
  const cases: [string, number, number, RegExp | null][] = [
    ['defaults', H, 20 * M, null],
    ['interval equal to ttl', H, H, /must be shorter than --ttl \(1h\)/],
    ['interval longer than ttl', 10 * M, 20 * M, /must be shorter/],
    ['ttl too short', 30_000, 10_000, /too short/],
    ['interval too short', H, 10, /at least 1s/],
  ];
  for (const [name, ttl, interval, want] of cases) {
    it(name, () => (want ? assert.throws(() => checkAgentTimes(ttl, interval), want) : assert.doesNotThrow(() => checkAgentTimes(ttl, interval))));
  }
});

describe('renewalDelay', () => {
  const cases: [string, number, number, number][] = [
    ['fresh hour-long certificate, 20m interval', H, 20 * M, 20 * M],
    ['gate capped the certificate at 15m', 15 * M, 20 * M, 10 * M],
    ['almost expired', 900, 20 * M, 1_000],
    ['already expired', -5_000, 20 * M, 1_000],
  ];
  for (const [name, left, interval, want] of cases) it(name, () => assert.equal(renewalDelay(0, left, interval), want));
});

describe('backoffDelay', () => {
  const cases: [string, number, number, number][] = [
    ['first retry, low draw', 0, 0, 1_000],
    ['first retry, high draw', 0, 1, 1_000],
    ['third retry, high draw', 2, 1, 4_000],
    ['third retry, middle draw', 2, 0.5, 2_500],
    ['capped at a minute', 20, 1, 60_000],
    ['huge attempt numbers stay finite', 5000, 1, 60_000],
  ];
  for (const [name, attempt, draw, want] of cases) it(name, () => assert.equal(backoffDelay(attempt, () => draw), want));
});
