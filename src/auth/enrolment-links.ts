import { createHash, randomBytes } from 'node:crypto';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';

/** One-time links that let a person register a security key. Only a hash of the token is stored. */
export class EnrolmentLinks {
  constructor(private readonly db: Db) {}

  async create(userName: string, ttlMs: number, now: number): Promise<{ token: string; expiresAt: number }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + ttlMs;
    await this.db.run('INSERT INTO enrolments (token_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)', [hashToken(token), userName, now, expiresAt]);
    return { token, expiresAt };
  }

  /** The link as stored, usable or not; undefined for a token the gate never issued. */
  async lookup(token: string): Promise<EnrolmentLink | undefined> {
    const row = await this.db.get<{ user_name: string; expires_at: number; used_at: number | null }>(
      'SELECT user_name, expires_at, used_at FROM enrolments WHERE token_hash = $1',
      [hashToken(token)],
    );
    return row && { userName: row.user_name, expiresAt: Number(row.expires_at), usedAt: row.used_at === null ? null : Number(row.used_at) };
  }

  /** The user a link enrols, or the refusal a used, expired or unknown link gets. */
  async check(token: string, now: number): Promise<EnrolmentLink> {
    const link = await this.lookup(token);
    assertUsable(link, now);
    return link!;
  }

  /** Marks the link used; exactly one caller wins even if two registrations race. */
  async consume(token: string, now: number): Promise<void> {
    const r = await this.db.run('UPDATE enrolments SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1', [now, hashToken(token)]);
    if (r.changes === 0) throw usedError();
  }
}

export interface EnrolmentLink {
  userName: string;
  expiresAt: number;
  usedAt: number | null;
}

export function assertUsable(link: EnrolmentLink | undefined, now: number): void {
  if (!link) throw new TapgateError('enrolment_unknown', 'This enrolment link is not valid. Ask your administrator for a new one.', { status: 404, auditReason: 'unknown enrolment link' });
  if (link.usedAt !== null) throw usedError();
  if (link.expiresAt <= now) {
    throw new TapgateError('enrolment_expired', 'This enrolment link has expired. Ask your administrator for a new one ("tapgate mfa add <user>").', { status: 410, auditReason: 'enrolment link expired' });
  }
}

function usedError(): TapgateError {
  return new TapgateError('enrolment_used', 'This enrolment link has already been used. Ask your administrator for a new one if you need to add another key.', { status: 410, auditReason: 'enrolment link reused' });
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
