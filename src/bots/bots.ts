import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';

/** A bot: a name and the roles its instances get. Many instances may share one bot. */
export interface Bot {
  name: string;
  roles: string[];
  createdAt: number;
}

export const BOT_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

type Row = { name: string; roles: string; created_at: number | string };

const fromRow = (r: Row): Bot => ({ name: r.name, roles: JSON.parse(r.roles) as string[], createdAt: Number(r.created_at) });

export class BotRepo {
  constructor(private readonly db: Db) {}

  /** Inserts a bot; refuses a name in use (the caller says how to change it instead). */
  async add(bot: Bot): Promise<void> {
    if (!BOT_NAME_RE.test(bot.name)) {
      throw new TapgateError('bad_bot_name', `bot name "${bot.name}" is not allowed; use a-z, 0-9, ".", "_" and "-" (at most 63 characters)`);
    }
    const { changes } = await this.db.run('INSERT INTO bots (name, roles, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [
      bot.name,
      JSON.stringify(bot.roles),
      bot.createdAt,
    ]);
    if (changes === 0) throw new TapgateError('bot_exists', `bot "${bot.name}" already exists; change its roles with "tapgate bots update ${bot.name} --roles ..."`, { status: 409 });
  }

  async setRoles(name: string, roles: string[]): Promise<boolean> {
    return (await this.db.run('UPDATE bots SET roles = $2 WHERE name = $1', [name, JSON.stringify(roles)])).changes > 0;
  }

  async get(name: string): Promise<Bot | undefined> {
    const r = await this.db.get<Row>('SELECT name, roles, created_at FROM bots WHERE name = $1', [name]);
    return r && fromRow(r);
  }

  async require(name: string): Promise<Bot> {
    const b = await this.get(name);
    if (!b) throw new TapgateError('unknown_bot', `bot "${name}" does not exist; create it with "tapgate bots add ${name} --roles ..."`, { status: 404 });
    return b;
  }

  async list(): Promise<Bot[]> {
    return (await this.db.all<Row>('SELECT name, roles, created_at FROM bots ORDER BY name')).map(fromRow);
  }

  /** Removes the bot with its tokens and instances, in one transaction. */
  async remove(name: string): Promise<{ removed: boolean; instances: string[]; tokens: number }> {
    return this.db.tx(async (t) => {
      const instances = (await t.all<{ id: string }>('SELECT id FROM bot_instances WHERE bot_name = $1', [name])).map((r) => r.id);
      await t.run('DELETE FROM bot_instances WHERE bot_name = $1', [name]);
      const tokens = (await t.run('DELETE FROM join_tokens WHERE bot_name = $1', [name])).changes;
      const removed = (await t.run('DELETE FROM bots WHERE name = $1', [name])).changes > 0;
      return { removed, instances, tokens };
    });
  }
}
