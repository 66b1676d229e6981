import { formatDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';

/** Pure timing for the bot agent: when to renew, how long to back off. Tests in schedule.test.ts. */

export const MIN_TTL_MS = 60_000;
export const MIN_RENEWAL_INTERVAL_MS = 1_000;
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;

/** The interval must leave time to renew before the certificate ends. */
export function checkAgentTimes(ttlMs: number, renewalIntervalMs: number): void {
  if (ttlMs < MIN_TTL_MS) throw new TapgateError('bad_ttl', `--ttl ${formatDuration(ttlMs)} is too short; use at least 1m`);
  if (renewalIntervalMs < MIN_RENEWAL_INTERVAL_MS) throw new TapgateError('bad_interval', '--renewal-interval must be at least 1s');
  if (renewalIntervalMs >= ttlMs) {
    throw new TapgateError(
      'bad_interval',
      `--renewal-interval (${formatDuration(renewalIntervalMs)}) must be shorter than --ttl (${formatDuration(ttlMs)}), or the certificate expires before it is renewed; e.g. --ttl 1h --renewal-interval 20m`,
    );
  }
}

/**
 * Delay until the next renewal: the interval, but never later than two thirds into what is left
 * of the certificate (the gate may have issued less than was asked for), and at least a second.
 */
export function renewalDelay(now: number, notAfter: number, intervalMs: number): number {
  const left = notAfter - now;
  return Math.max(MIN_RENEWAL_INTERVAL_MS, Math.min(intervalMs, Math.floor((left * 2) / 3)));
}

/**
 * Exponential backoff with full jitter (attempt 0 = first retry): uniformly random in
 * [base, min(max, base * 2^attempt)], so a fleet that failed together does not retry together.
 */
export function backoffDelay(attempt: number, random: () => number, baseMs = BACKOFF_BASE_MS, maxMs = BACKOFF_MAX_MS): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(baseMs + random() * (cap - baseMs));
}
