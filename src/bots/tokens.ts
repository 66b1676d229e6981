import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';
import { tokenStatus, type TokenStatus } from './token-policy';

/** A join token as the store keeps it: the secret only as a hash. */
export interface JoinToken {
  name: string;
  secretHash: string;
  botName: string;
  maxUses: number;
  uses: number;
  renewable: boolean;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
}

type Row = {
  name: string;
  secret_hash: string;
  bot_name: string;
  max_uses: number;
  uses: number;
  renewable: number;
  expires_at: number | string | null;
  created_at: number | string;
  last_used_at: number | string | null;
};

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

const fromRow = (r: Row): JoinToken => ({
  name: r.name,
  secretHash: r.secret_hash,
  botName: r.bot_name,
  maxUses: Number(r.max_uses),
  uses: Number(r.uses),
  renewable: Number(r.renewable) === 1,
  expiresAt: num(r.expires_at),
  createdAt: Number(r.created_at),
  lastUsedAt: num(r.last_used_at),
});

export const statusOf = (t: JoinToken, now: number): TokenStatus => tokenStatus(t, now);

export class TokenRepo {
  constructor(private readonly db: Db) {}

  async add(t: Omit<JoinToken, 'uses' | 'lastUsedAt'>): Promise<void> {
    const { changes } = await this.db.run(
      'INSERT INTO join_tokens (name, secret_hash, bot_name, max_uses, uses, renewable, expires_at, created_at) VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT (name) DO NOTHING',
      [t.name, t.secretHash, t.botName, t.maxUses, t.renewable ? 1 : 0, t.expiresAt, t.createdAt],
    );
    if (changes === 0) throw new TapgateError('token_exists', `a token named "${t.name}" already exists; pick another --name or remove it with "tapgate tokens rm ${t.name}"`, { status: 409 });
  }

  async get(name: string): Promise<JoinToken | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM join_tokens WHERE name = $1', [name]);
    return r && fromRow(r);
  }

  async list(bot?: string): Promise<JoinToken[]> {
    const rows = bot
      ? await this.db.all<Row>('SELECT * FROM join_tokens WHERE bot_name = $1 ORDER BY created_at, name', [bot])
      : await this.db.all<Row>('SELECT * FROM join_tokens ORDER BY created_at, name');
    return rows.map(fromRow);
  }

  /**
   * Takes one use, atomically on every engine and replica: the row changes only if a use is left,
   * the token has not expired and it is still the token whose secret was checked. Of two
   * simultaneous joins on a single-use token exactly one gets `true`.
   */
  async consume(name: string, secretHash: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE join_tokens SET uses = uses + 1, last_used_at = $3 WHERE name = $1 AND secret_hash = $2 AND uses < max_uses AND (expires_at IS NULL OR expires_at > $3)',
      [name, secretHash, now],
    );
    return r.changes === 1;
  }

  /** A re-join with a non-renewable token uses it without taking a use: uses count instances. */
  async touch(name: string, now: number): Promise<void> {
    await this.db.run('UPDATE join_tokens SET last_used_at = $2 WHERE name = $1', [name, now]);
  }

  async remove(name: string): Promise<JoinToken | undefined> {
    return this.db.tx(async (t) => {
      const r = await t.get<Row>('SELECT * FROM join_tokens WHERE name = $1', [name]);
      if (r) await t.run('DELETE FROM join_tokens WHERE name = $1', [name]);
      return r && fromRow(r);
    });
  }
}
