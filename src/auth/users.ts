import { randomBytes } from 'node:crypto';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';

export interface User {
  name: string;
  roles: string[];
  /** WebAuthn user handle (base64url), stable for the user's lifetime */
  webauthnId: string;
  createdAt: number;
}

/** A registered security key. */
export interface Credential {
  /** credential id, base64url */
  id: string;
  userName: string;
  /** COSE public key, base64url */
  publicKey: string;
  counter: number;
  transports: string[];
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export const USER_NAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

type UserRow = { name: string; roles: string; webauthn_id: string; created_at: number };
type CredRow = { id: string; user_name: string; public_key: string; counter: number; transports: string; name: string; created_at: number; last_used_at: number | null };

/** Users and their security keys, as stored. No policy here. */
export class UserRepo {
  constructor(private readonly db: Db) {}

  async add(name: string, roles: string[], now: number): Promise<User> {
    if (!USER_NAME.test(name)) {
      throw new TapgateError('bad_user_name', `user name "${name}" is not valid; use a-z, 0-9, ".", "_", "@" and "-" (up to 64 characters)`);
    }
    if (await this.get(name)) throw new TapgateError('user_exists', `user "${name}" already exists; use "tapgate mfa add ${name}" to give them another key`, { status: 409 });
    const user: User = { name, roles, webauthnId: randomBytes(32).toString('base64url'), createdAt: now };
    await this.db.run('INSERT INTO users (name, roles, webauthn_id, created_at) VALUES ($1, $2, $3, $4)', [name, JSON.stringify(roles), user.webauthnId, now]);
    return user;
  }

  async get(name: string): Promise<User | undefined> {
    const r = await this.db.get<UserRow>('SELECT * FROM users WHERE name = $1', [name]);
    return r && userFromRow(r);
  }

  async require(name: string): Promise<User> {
    const u = await this.get(name);
    if (!u) throw new TapgateError('unknown_user', `user "${name}" does not exist; see "tapgate users ls"`, { status: 404 });
    return u;
  }

  async list(): Promise<(User & { keys: number })[]> {
    const rows = await this.db.all<UserRow & { keys: number }>(
      'SELECT u.*, (SELECT COUNT(*) FROM credentials c WHERE c.user_name = u.name) AS keys FROM users u ORDER BY u.name',
    );
    return rows.map((r) => ({ ...userFromRow(r), keys: Number(r.keys) }));
  }

  async setRoles(name: string, roles: string[]): Promise<void> {
    await this.db.run('UPDATE users SET roles = $1 WHERE name = $2', [JSON.stringify(roles), name]);
  }

  /** Removes the user with their keys and pending enrolment links. */
  async remove(name: string): Promise<boolean> {
    return this.db.tx(async (t) => {
      await t.run('DELETE FROM credentials WHERE user_name = $1', [name]);
      await t.run('DELETE FROM enrolments WHERE user_name = $1', [name]);
      return (await t.run('DELETE FROM users WHERE name = $1', [name])).changes > 0;
    });
  }

  async addCredential(c: Omit<Credential, 'lastUsedAt'>): Promise<void> {
    await this.db.run(
      'INSERT INTO credentials (id, user_name, public_key, counter, transports, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [c.id, c.userName, c.publicKey, c.counter, JSON.stringify(c.transports), c.name, c.createdAt],
    );
  }

  async credential(id: string): Promise<Credential | undefined> {
    const r = await this.db.get<CredRow>('SELECT * FROM credentials WHERE id = $1', [id]);
    return r && credFromRow(r);
  }

  async credentials(userName: string): Promise<Credential[]> {
    const rows = await this.db.all<CredRow>('SELECT * FROM credentials WHERE user_name = $1 ORDER BY created_at', [userName]);
    return rows.map(credFromRow);
  }

  async removeCredential(id: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM credentials WHERE id = $1', [id])).changes > 0;
  }

  /**
   * Moves the sign counter forward only if it is still what the caller verified against, so two
   * concurrent assertions with the same counter cannot both pass.
   */
  async advanceCounter(id: string, from: number, to: number, now: number): Promise<boolean> {
    const r = await this.db.run('UPDATE credentials SET counter = $1, last_used_at = $2 WHERE id = $3 AND counter = $4', [to, now, id, from]);
    return r.changes > 0;
  }
}

function userFromRow(r: UserRow): User {
  return { name: r.name, roles: JSON.parse(r.roles) as string[], webauthnId: r.webauthn_id, createdAt: Number(r.created_at) };
}

function credFromRow(r: CredRow): Credential {
  return {
    id: r.id,
    userName: r.user_name,
    publicKey: r.public_key,
    counter: Number(r.counter),
    transports: JSON.parse(r.transports) as string[],
    name: r.name,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}
