import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';

export const CHALLENGE_TTL_MS = 60_000;

export type ChallengePurpose = 'register' | 'login' | 'tap';

export interface Challenge {
  id: string;
  purpose: ChallengePurpose;
  /** base64url, as it appears in clientDataJSON */
  challenge: string;
  userName: string | null;
  /** what the challenge is bound to (enrolment token hash, login session id, MFA request id) */
  subject: string;
  expiresAt: number;
}

type Row = { id: string; purpose: ChallengePurpose; challenge: string; user_name: string | null; data: string; expires_at: number; used_at: number | null };

/** WebAuthn challenges: random, bound to one ceremony, single-use, and short-lived. */
export class Challenges {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async issue(purpose: ChallengePurpose, subject: string, userName: string | null = null): Promise<Challenge> {
    const now = this.clock.now();
    const c: Challenge = { id: randomUUID(), purpose, challenge: randomBytes(32).toString('base64url'), userName, subject, expiresAt: now + CHALLENGE_TTL_MS };
    // Old challenges are of no use to anyone; keep the table small.
    await this.db.run('DELETE FROM challenges WHERE expires_at < $1', [now - 3_600_000]);
    await this.db.run('INSERT INTO challenges (id, purpose, challenge, user_name, data, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      c.id, purpose, c.challenge, userName, JSON.stringify({ subject }), c.expiresAt,
    ]);
    return c;
  }

  /**
   * Uses up a challenge. The UPDATE ... WHERE used_at IS NULL is the single-use guarantee: a
   * replayed response finds the row already used, on any replica.
   */
  async consume(id: string, purpose: ChallengePurpose, subject: string): Promise<Challenge> {
    const now = this.clock.now();
    const taken = await this.db.run('UPDATE challenges SET used_at = $1 WHERE id = $2 AND purpose = $3 AND used_at IS NULL', [now, id, purpose]);
    const row = await this.db.get<Row>('SELECT * FROM challenges WHERE id = $1 AND purpose = $2', [id, purpose]);
    if (!row) throw new TapgateError('challenge_unknown', 'This sign-in attempt is not known to the gate. Reload the page and try again.', { auditReason: 'unknown challenge' });
    if (taken.changes === 0) {
      throw new TapgateError('challenge_replayed', 'This security-key response was already used. Reload the page and tap again.', { auditReason: 'challenge replayed' });
    }
    const c: Challenge = { id: row.id, purpose: row.purpose, challenge: row.challenge, userName: row.user_name, subject: (JSON.parse(row.data) as { subject: string }).subject, expiresAt: Number(row.expires_at) };
    if (c.subject !== subject) throw new TapgateError('challenge_mismatch', 'This security-key response belongs to another request. Reload the page and try again.', { auditReason: 'challenge for another request' });
    if (c.expiresAt <= now) {
      throw new TapgateError('challenge_expired', 'The security-key prompt timed out (60 seconds). Reload the page and tap again.', { auditReason: 'challenge expired' });
    }
    return c;
  }
}
