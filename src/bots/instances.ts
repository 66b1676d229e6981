import type { Db } from '../store/db';
import type { GenerationState, IssuedKeys } from './generation';

/** One running copy of a bot: its own generation counter, history and heartbeats. */

export const HISTORY_CAP = 10;

export interface Authentication {
  at: number;
  /** join: new instance; join-retry / renew-retry: a lost answer sent again; rejoin: non-renewable renewal by joining again */
  kind: 'join' | 'join-retry' | 'rejoin' | 'renew' | 'renew-retry';
  generation: number;
  serial: string;
  /** renewals: sha256 of the key the generation was issued for (tells a repeated renewal from theft) */
  keyFp?: string;
  remote?: string;
}

export interface Heartbeat {
  at: number;
  hostname: string;
  version: string;
  uptimeS: number;
  oneshot: boolean;
  generation: number;
  remote?: string;
}

export interface BotInstance extends GenerationState {
  id: string;
  bot: string;
  token: string;
  renewable: boolean;
  joinedAt: number;
  /** expiry of the committed generation's certificate */
  notAfter: number;
  pendingCert: string | null;
  pendingNotAfter: number | null;
  /** sha256 of the key the instance joined with: a join retried with it is the same join */
  joinKeyFp: string;
  authentications: Authentication[];
  heartbeats: Heartbeat[];
  lastSeen: number;
}

/** Pure: the key each renewal in the history issued its generation for. */
export function issuedKeys(history: readonly Authentication[]): IssuedKeys {
  return (generation) => history.findLast((a) => a.generation === generation && a.keyFp !== undefined)?.keyFp;
}

/** Pure: newest last, at most `cap` entries. */
export function appendCapped<T>(list: readonly T[], entry: T, cap = HISTORY_CAP): T[] {
  const out = [...list, entry];
  return out.length > cap ? out.slice(out.length - cap) : out;
}

type Row = {
  id: string;
  bot_name: string;
  token_name: string;
  renewable: number;
  joined_at: number | string;
  generation: number;
  not_after: number | string;
  pending_generation: number | null;
  pending_cert: string | null;
  pending_key_fp: string | null;
  pending_not_after: number | string | null;
  join_key_fp: string;
  authentications: string;
  heartbeats: string;
  last_seen: number | string;
};

const fromRow = (r: Row): BotInstance => ({
  id: r.id,
  bot: r.bot_name,
  token: r.token_name,
  renewable: Number(r.renewable) === 1,
  joinedAt: Number(r.joined_at),
  generation: Number(r.generation),
  notAfter: Number(r.not_after),
  pendingGeneration: r.pending_generation === null ? null : Number(r.pending_generation),
  pendingCert: r.pending_cert,
  pendingKeyFp: r.pending_key_fp,
  pendingNotAfter: r.pending_not_after === null ? null : Number(r.pending_not_after),
  joinKeyFp: r.join_key_fp,
  authentications: JSON.parse(r.authentications) as Authentication[],
  heartbeats: JSON.parse(r.heartbeats) as Heartbeat[],
  lastSeen: Number(r.last_seen),
});

export interface PendingCert {
  generation: number;
  certPem: string;
  keyFp: string;
  notAfter: number;
}

/**
 * Every write that moves a generation is one conditional UPDATE naming the state it was decided
 * on, so two replicas deciding at once cannot both win: the loser sees `false` and decides again.
 */
export class InstanceRepo {
  constructor(private readonly db: Db) {}

  async create(i: BotInstance): Promise<void> {
    await this.db.run(
      `INSERT INTO bot_instances (id, bot_name, token_name, renewable, joined_at, generation, not_after, pending_generation, pending_cert, pending_key_fp, pending_not_after, join_key_fp, authentications, heartbeats, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, NULL, $8, $9, $10, $11)`,
      [i.id, i.bot, i.token, i.renewable ? 1 : 0, i.joinedAt, i.generation, i.notAfter, i.joinKeyFp, JSON.stringify(i.authentications), JSON.stringify(i.heartbeats), i.lastSeen],
    );
  }

  async get(id: string): Promise<BotInstance | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM bot_instances WHERE id = $1', [id]);
    return r && fromRow(r);
  }

  /** An instance that joined with this token and key and has not moved on: a retried join. */
  async joinedWith(token: string, keyFp: string): Promise<BotInstance | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM bot_instances WHERE token_name = $1 AND join_key_fp = $2 AND generation = 1 AND pending_generation IS NULL', [token, keyFp]);
    return r && fromRow(r);
  }

  /** The instance and its bot's roles in one query (renewal's read); botRoles is null when the bot is gone. */
  async getWithBotRoles(id: string): Promise<{ instance: BotInstance; botRoles: string[] | null } | undefined> {
    const r = await this.db.get<Row & { bot_roles: string | null }>('SELECT i.*, b.roles AS bot_roles FROM bot_instances i LEFT JOIN bots b ON b.name = i.bot_name WHERE i.id = $1', [id]);
    return r && { instance: fromRow(r), botRoles: r.bot_roles === null ? null : (JSON.parse(r.bot_roles) as string[]) };
  }

  /** Generation state only: the kube path's cache refill. */
  async state(id: string): Promise<(GenerationState & { renewable: boolean }) | undefined> {
    const r = await this.db.get<Pick<Row, 'generation' | 'pending_generation' | 'pending_key_fp' | 'renewable'>>(
      'SELECT generation, pending_generation, pending_key_fp, renewable FROM bot_instances WHERE id = $1',
      [id],
    );
    return (
      r && {
        generation: Number(r.generation),
        pendingGeneration: r.pending_generation === null ? null : Number(r.pending_generation),
        pendingKeyFp: r.pending_key_fp,
        renewable: Number(r.renewable) === 1,
      }
    );
  }

  async list(bot?: string): Promise<BotInstance[]> {
    const rows = bot
      ? await this.db.all<Row>('SELECT * FROM bot_instances WHERE bot_name = $1 ORDER BY joined_at, id', [bot])
      : await this.db.all<Row>('SELECT * FROM bot_instances ORDER BY bot_name, joined_at, id');
    return rows.map(fromRow);
  }

  /** Issues a pending generation where none was in flight. */
  async setPending(i: BotInstance, p: PendingCert, auth: Authentication): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bot_instances SET pending_generation = $3, pending_cert = $4, pending_key_fp = $5, pending_not_after = $6, authentications = $7, last_seen = $8
       WHERE id = $1 AND generation = $2 AND pending_generation IS NULL`,
      [i.id, i.generation, p.generation, p.certPem, p.keyFp, p.notAfter, JSON.stringify(appendCapped(i.authentications, auth)), auth.at],
    );
    return r.changes === 1;
  }

  /** Commits the pending generation the bot renews with and issues the next one as pending. */
  async commitAndSetPending(i: BotInstance, commit: number, p: PendingCert, auth: Authentication): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bot_instances SET generation = $3, not_after = pending_not_after, pending_generation = $4, pending_cert = $5, pending_key_fp = $6, pending_not_after = $7, authentications = $8, last_seen = $9
       WHERE id = $1 AND generation = $2 AND pending_generation = $3`,
      [i.id, i.generation, commit, p.generation, p.certPem, p.keyFp, p.notAfter, JSON.stringify(appendCapped(i.authentications, auth)), auth.at],
    );
    return r.changes === 1;
  }

  /** First use of the pending generation. False if someone else committed it first. */
  async commit(id: string, generation: number, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bot_instances SET generation = pending_generation, not_after = pending_not_after, pending_generation = NULL, pending_cert = NULL, pending_key_fp = NULL, pending_not_after = NULL, last_seen = $3
       WHERE id = $1 AND pending_generation = $2`,
      [id, generation, now],
    );
    return r.changes === 1;
  }

  /** A non-renewable instance joined again: the new certificate is committed at once. */
  async rejoined(i: BotInstance, generation: number, notAfter: number, auth: Authentication): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE bot_instances SET generation = $3, not_after = $4, authentications = $5, last_seen = $6
       WHERE id = $1 AND generation = $2`,
      [i.id, i.generation, generation, notAfter, JSON.stringify(appendCapped(i.authentications, auth)), auth.at],
    );
    return r.changes === 1;
  }

  /** Records an answered retry; losing a history entry to a concurrent write is harmless. */
  async recordAuthentication(id: string, auth: Authentication): Promise<void> {
    await this.db.tx(async (t) => {
      const r = await t.get<{ authentications: string }>('SELECT authentications FROM bot_instances WHERE id = $1', [id]);
      if (!r) return;
      const list = appendCapped(JSON.parse(r.authentications) as Authentication[], auth);
      await t.run('UPDATE bot_instances SET authentications = $2, last_seen = $3 WHERE id = $1', [id, JSON.stringify(list), auth.at]);
    });
  }

  async recordHeartbeat(id: string, hb: Heartbeat): Promise<void> {
    await this.db.tx(async (t) => {
      const r = await t.get<{ heartbeats: string }>('SELECT heartbeats FROM bot_instances WHERE id = $1', [id]);
      if (!r) return;
      const list = appendCapped(JSON.parse(r.heartbeats) as Heartbeat[], hb);
      await t.run('UPDATE bot_instances SET heartbeats = $2, last_seen = $3 WHERE id = $1', [id, JSON.stringify(list), hb.at]);
    });
  }

  async remove(id: string): Promise<BotInstance | undefined> {
    return this.db.tx(async (t) => {
      const r = await t.get<Row>('SELECT * FROM bot_instances WHERE id = $1', [id]);
      if (r) await t.run('DELETE FROM bot_instances WHERE id = $1', [id]);
      return r && fromRow(r);
    });
  }
}
