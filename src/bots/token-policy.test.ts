import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTokenSpec, tokenStatus, type TokenSpec, type TokenStatus, type TokenUsage } from './token-policy';
import { formatToken, hashSecret, newTokenSecret, parseToken, secretMatches } from './token-secret';

const H = 3_600_000;

describe('checkTokenSpec', () => {
  const cases: [string, TokenSpec, RegExp | null][] = [
    ['single use, no expiry', { maxUses: 1, renewable: true }, null],
    ['single use with expiry', { maxUses: 1, ttlMs: H, renewable: true }, null],
    ['multi use with expiry', { maxUses: 5, ttlMs: H, renewable: true }, null],
    ['multi use without expiry', { maxUses: 5, renewable: true }, /must expire; add --ttl/],
    ['non-renewable without expiry', { maxUses: 1, renewable: false }, /non-renewable.*must expire/],
    ['non-renewable with expiry', { maxUses: 3, ttlMs: 24 * H, renewable: false }, null],
    ['zero uses', { maxUses: 0, renewable: true }, /--uses must be a whole number/],
    ['fractional uses', { maxUses: 1.5, ttlMs: H, renewable: true }, /--uses/],
    ['ttl under a second', { maxUses: 1, ttlMs: 10, renewable: true }, /at least 1s/],
    ['reusable for two years', { maxUses: 2, ttlMs: 2 * 365 * 24 * H, renewable: true }, /at most/],
    ['single use may wait long', { maxUses: 1, ttlMs: 2 * 365 * 24 * H, renewable: true }, null],
  ];
  for (const [name, spec, want] of cases) {
    it(name, () => {
      if (want) assert.throws(() => checkTokenSpec(spec), want);
      else assert.doesNotThrow(() => checkTokenSpec(spec));
    });
  }
});

describe('tokenStatus', () => {
  const now = 1_000_000;
  const cases: [string, TokenUsage, TokenStatus][] = [
    ['fresh', { maxUses: 1, uses: 0, expiresAt: null }, 'active'],
    ['used once of one', { maxUses: 1, uses: 1, expiresAt: null }, 'exhausted'],
    ['uses left, not expired', { maxUses: 5, uses: 4, expiresAt: now + 1 }, 'active'],
    ['expires exactly now', { maxUses: 5, uses: 0, expiresAt: now }, 'expired'],
    ['expired and exhausted', { maxUses: 1, uses: 1, expiresAt: now - 1 }, 'expired'],
  ];
  for (const [name, t, want] of cases) it(name, () => assert.equal(tokenStatus(t, now), want));
});

describe('token secrets', () => {
  it('round-trips and matches only its own secret', () => {
    const { text, hash } = newTokenSecret('ci-1');
    const t = parseToken(`  ${text}\n`);
    assert.equal(t.name, 'ci-1');
    assert.equal(formatToken(t), text);
    assert.ok(secretMatches(t.secret, hash));
    assert.ok(!secretMatches('0'.repeat(64), hash));
    assert.equal(hashSecret(t.secret), hash);
  });
  for (const bad of ['', 'tgt_ci', 'tgt_CI_' + 'a'.repeat(64), 'tgt_ci_' + 'a'.repeat(63), 'xyz_ci_' + 'a'.repeat(64)]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 12))}`, () => assert.throws(() => parseToken(bad), /malformed/));
  }
});
