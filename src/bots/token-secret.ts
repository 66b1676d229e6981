import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TapgateError } from '../core/errors';

/**
 * A join token as the bot holds it: `tgt_<name>_<secret>`. The name is public (it is what locks,
 * audit records and `tokens ls` show); the secret is 32 random bytes the store keeps only as a
 * sha256. The prefix makes leaked tokens easy for secret scanners to spot.
 */

export const TOKEN_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TOKEN_RE = /^tgt_([a-z0-9][a-z0-9-]{0,62})_([0-9a-f]{64})$/;

export interface TokenSecret {
  name: string;
  secret: string;
}

export function newTokenName(random: (n: number) => Buffer = randomBytes): string {
  return random(8).toString('hex');
}

export function newTokenSecret(name: string, random: (n: number) => Buffer = randomBytes): { text: string; hash: string } {
  const secret = random(32).toString('hex');
  return { text: formatToken({ name, secret }), hash: hashSecret(secret) };
}

export const formatToken = (t: TokenSecret): string => `tgt_${t.name}_${t.secret}`;

export function parseToken(text: string): TokenSecret {
  const m = TOKEN_RE.exec(text.trim());
  if (!m) {
    throw new TapgateError('bad_token', 'the join token is malformed (expected tgt_<name>_<64 hex digits>); copy it again from `tapgate tokens add`', {
      status: 401,
      auditReason: 'malformed join token',
    });
  }
  return { name: m[1]!, secret: m[2]! };
}

export const hashSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Constant-time: the time taken says nothing about how much of the hash matched. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
