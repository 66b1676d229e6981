import type { AuditLog } from '../audit/audit';
import type { RoleRepo } from '../auth/roles';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';
import { BotRepo, type Bot } from './bots';
import { InstanceRepo, type BotInstance } from './instances';
import { BOTS_CHANNEL } from './service';
import { checkTokenSpec, type TokenSpec } from './token-policy';
import { newTokenName, newTokenSecret, TOKEN_NAME_RE } from './token-secret';
import { TokenRepo, type JoinToken } from './tokens';

/** What an administrator does to bots, their join tokens and instances; every change is audited. */
export class BotAdmin {
  readonly bots: BotRepo;
  readonly tokens: TokenRepo;
  readonly instances: InstanceRepo;

  constructor(
    private readonly d: { db: Db; roles: RoleRepo; audit: AuditLog; clock: Clock },
    private readonly actor = 'admin',
  ) {
    this.bots = new BotRepo(d.db);
    this.tokens = new TokenRepo(d.db);
    this.instances = new InstanceRepo(d.db);
  }

  async addBot(name: string, roles: string[]): Promise<Bot> {
    if (roles.length === 0) throw new TapgateError('no_roles', 'give the bot at least one role, e.g. --roles deploy');
    await this.d.roles.resolve(roles);
    const bot: Bot = { name, roles, createdAt: this.d.clock.now() };
    await this.bots.add(bot);
    await this.d.audit.record({ event: 'bot.created', outcome: 'ok', actor: this.actor, data: { name, roles } });
    return bot;
  }

  /** New roles reach every instance at its next renewal. */
  async setRoles(name: string, roles: string[]): Promise<void> {
    if (roles.length === 0) throw new TapgateError('no_roles', 'give the bot at least one role, e.g. --roles deploy');
    await this.d.roles.resolve(roles);
    if (!(await this.bots.setRoles(name, roles))) await this.bots.require(name);
    await this.d.audit.record({ event: 'bot.updated', outcome: 'ok', actor: this.actor, data: { name, roles } });
  }

  async removeBot(name: string): Promise<{ instances: number; tokens: number }> {
    const r = await this.bots.remove(name);
    if (!r.removed) await this.bots.require(name);
    for (const id of r.instances) await this.d.db.notify(BOTS_CHANNEL, id);
    await this.d.audit.record({ event: 'bot.removed', outcome: 'ok', actor: this.actor, data: { name, instances: r.instances.length, tokens: r.tokens } });
    return { instances: r.instances.length, tokens: r.tokens };
  }

  /** Returns the token text: the only time the secret exists outside the bot. */
  async addToken(o: { bot: string; name?: string } & TokenSpec): Promise<{ token: JoinToken; text: string }> {
    await this.bots.require(o.bot);
    checkTokenSpec(o);
    const name = o.name ?? newTokenName();
    if (!TOKEN_NAME_RE.test(name)) throw new TapgateError('bad_token_name', `token name "${name}" is not allowed; use a-z, 0-9 and "-" (at most 63 characters)`);
    const now = this.d.clock.now();
    const { text, hash } = newTokenSecret(name);
    const token: JoinToken = {
      name,
      secretHash: hash,
      botName: o.bot,
      maxUses: o.maxUses,
      uses: 0,
      renewable: o.renewable,
      expiresAt: o.ttlMs === undefined ? null : now + o.ttlMs,
      createdAt: now,
      lastUsedAt: null,
    };
    await this.tokens.add(token);
    await this.d.audit.record({
      event: 'token.created',
      outcome: 'ok',
      actor: this.actor,
      data: { name, bot: o.bot, maxUses: o.maxUses, renewable: o.renewable, expiresAt: token.expiresAt },
    });
    return { token, text };
  }

  /**
   * Instances that joined with a renewable token keep renewing with their certificates; those of
   * a non-renewable token renew by joining with it, so they stop at their certificates' expiry.
   */
  async removeToken(name: string): Promise<{ token: JoinToken; affected: number }> {
    const token = await this.tokens.remove(name);
    if (!token) throw new TapgateError('unknown_token', `token "${name}" does not exist; see "tapgate tokens ls"`, { status: 404 });
    const affected = token.renewable ? 0 : (await this.instances.list(token.botName)).filter((i) => i.token === name).length;
    await this.d.audit.record({ event: 'token.removed', outcome: 'ok', actor: this.actor, data: { name, bot: token.botName, renewable: token.renewable, stoppedInstances: affected } });
    return { token, affected };
  }

  async instance(idOrPrefix: string): Promise<BotInstance> {
    const exact = await this.instances.get(idOrPrefix);
    if (exact) return exact;
    const matches = (await this.instances.list()).filter((i) => i.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new TapgateError('ambiguous_instance', `"${idOrPrefix}" matches ${matches.length} instances; give more of the id`);
    throw new TapgateError('unknown_instance', `bot instance "${idOrPrefix}" does not exist; see "tapgate bots instances ls"`, { status: 404 });
  }

  async removeInstance(idOrPrefix: string): Promise<BotInstance> {
    const inst = await this.instance(idOrPrefix);
    await this.instances.remove(inst.id);
    await this.d.db.notify(BOTS_CHANNEL, inst.id);
    await this.d.audit.record({ event: 'bot_instance.removed', outcome: 'ok', actor: this.actor, data: { id: inst.id, bot: inst.bot } });
    return inst;
  }
}

