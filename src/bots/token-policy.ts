import { formatDuration } from '../core/duration';
import { TapgateError } from '../core/errors';

/** Pure rules for join tokens. Table-driven tests in token-policy.test.ts. */

export interface TokenSpec {
  maxUses: number;
  /** lifetime from creation; undefined = never expires */
  ttlMs?: number;
  renewable: boolean;
}

/** Longest a reusable token may live: a reusable secret that never expires is what the seed warns about. */
export const MAX_REUSABLE_TOKEN_TTL_MS = 366 * 86_400_000;
export const MAX_TOKEN_USES = 100_000;

/** Refuses token settings that would leave a long-lived reusable secret around. */
export function checkTokenSpec(spec: TokenSpec): void {
  const bad = (msg: string) => new TapgateError('bad_token_spec', msg);
  if (!Number.isSafeInteger(spec.maxUses) || spec.maxUses < 1 || spec.maxUses > MAX_TOKEN_USES) {
    throw bad(`--uses must be a whole number from 1 to ${MAX_TOKEN_USES}`);
  }
  if (spec.ttlMs !== undefined && (!Number.isFinite(spec.ttlMs) || spec.ttlMs < 1000)) {
    throw bad('--ttl must be at least 1s');
  }
  if (spec.maxUses > 1 && spec.ttlMs === undefined) {
    throw bad(`a token usable ${spec.maxUses} times is a reusable secret and must expire; add --ttl (e.g. --ttl 1h)`);
  }
  if (!spec.renewable && spec.ttlMs === undefined) {
    throw bad('a non-renewable token is used again at every renewal, so it is a reusable secret and must expire; add --ttl (e.g. --ttl 24h)');
  }
  if ((spec.maxUses > 1 || !spec.renewable) && spec.ttlMs !== undefined && spec.ttlMs > MAX_REUSABLE_TOKEN_TTL_MS) {
    throw bad(`a reusable token may live at most ${formatDuration(MAX_REUSABLE_TOKEN_TTL_MS)}; pick a shorter --ttl and rotate it`);
  }
}

export type TokenStatus = 'active' | 'expired' | 'exhausted';

export interface TokenUsage {
  maxUses: number;
  uses: number;
  expiresAt: number | null;
}

/** Expiry wins over exhaustion: it is what the administrator must change. */
export function tokenStatus(t: TokenUsage, now: number): TokenStatus {
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  if (t.uses >= t.maxUses) return 'exhausted';
  return 'active';
}
