import type { Command } from 'commander';
import { BotAdmin } from '../../bots/admin';
import { botsTable, instanceDetails, instancesTable, type Table } from '../../bots/format';
import type { BotInstance } from '../../bots/instances';
import type { Locks } from '../../locks/locks';
import type { Identity } from '../../pki/identity';
import type { AdminContext } from '../../server/admin';
import { formatTable, outputFormat, print, printDocs, withAdmin, withStoreOptions, type StoreOptions } from './admin';

const roleList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

/** Runs one bot admin action against the gate's store, audited as the admin. */
export function withBotAdmin<T>(opts: StoreOptions, fn: (admin: BotAdmin, a: AdminContext) => Promise<T>): Promise<T> {
  return withAdmin(opts, async (a) => {
    await a.locks.reload();
    return fn(new BotAdmin({ db: a.db, roles: a.roles, audit: a.audit, clock: a.clock }, a.actor), a);
  });
}

export const printTable = ([header, rows]: Table, empty: string): void => print(rows.length ? formatTable(header, rows) : empty);

/** What a lock on this instance would match (bot, instance, token). */
const lockOf = (locks: Locks, i: BotInstance) => {
  const id: Identity = { usage: 'bot', kind: 'bot', name: i.bot, roles: [], kubeUsers: [], kubeGroups: [], clusters: [], botInstance: i.id, joinToken: i.token };
  return locks.match(id);
};

const withoutCert = ({ pendingCert: _, ...i }: BotInstance) => i;

/** `tapgate bots add|update|ls|rm` and `tapgate bots instances ls|show|rm`. */
export function register(program: Command): void {
  const bots = program.command('bots').description('bots: machine identities whose instances join with a token and renew by themselves');

  withStoreOptions(bots.command('add').description('create a bot').argument('<name>').requiredOption('-r, --roles <roles>', 'comma-separated roles its instances get', roleList)).action(
    async (name: string, o: StoreOptions & { roles: string[] }) =>
      withBotAdmin(o, async (admin) => {
        const bot = await admin.addBot(name, o.roles);
        print(`Bot "${bot.name}" created with roles ${bot.roles.join(', ')}. Give it a join token: tapgate tokens add --bot ${bot.name}`);
      }),
  );

  withStoreOptions(
    bots.command('update').description("change a bot's roles (each instance gets them at its next renewal)").argument('<name>').requiredOption('-r, --roles <roles>', 'comma-separated roles', roleList),
  ).action(async (name: string, o: StoreOptions & { roles: string[] }) =>
    withBotAdmin(o, async (admin) => {
      await admin.setRoles(name, o.roles);
      print(`Bot "${name}" now has roles ${o.roles.join(', ')}; each instance gets them at its next renewal.`);
    }),
  );

  withStoreOptions(bots.command('ls').description('list bots').option('-o, --output <format>', 'text, yaml or json')).action(async (o: StoreOptions & { output?: string }) => {
    const format = outputFormat(o.output);
    await withBotAdmin(o, async (admin) => {
      const list = await admin.bots.list();
      const counts = new Map<string, number>();
      for (const i of await admin.instances.list()) counts.set(i.bot, (counts.get(i.bot) ?? 0) + 1);
      if (format !== 'text') return printDocs(list.map((b) => ({ ...b, instances: counts.get(b.name) ?? 0 })), format);
      printTable(botsTable(list, counts), 'No bots yet. Add one with: tapgate bots add ci --roles access');
    });
  });

  withStoreOptions(bots.command('rm').description('remove a bot with its join tokens and instances').argument('<name>')).action(async (name: string, o: StoreOptions) =>
    withBotAdmin(o, async (admin) => {
      const r = await admin.removeBot(name);
      print(`Bot "${name}" removed with ${r.instances} instance(s) and ${r.tokens} token(s); its certificates are refused from their next use.`);
    }),
  );

  const inst = bots.command('instances').description('running copies of bots, one per join');

  withStoreOptions(inst.command('ls').description('list bot instances').option('--bot <name>', 'only this bot').option('-o, --output <format>', 'text, yaml or json')).action(
    async (o: StoreOptions & { bot?: string; output?: string }) => {
      const format = outputFormat(o.output);
      await withBotAdmin(o, async (admin, a) => {
        const list = await admin.instances.list(o.bot);
        if (format !== 'text') return printDocs(list.map((i) => ({ ...withoutCert(i), locked: !!lockOf(a.locks, i) })), format);
        printTable(instancesTable(list, (i) => lockOf(a.locks, i), a.clock.now()), o.bot ? `Bot "${o.bot}" has no instances.` : 'No bot instances.');
      });
    },
  );

  withStoreOptions(
    inst.command('show').description('one instance: generation, pending renewal, authentications, heartbeats').argument('<id>', 'instance id or a unique prefix').option('-o, --output <format>', 'text, yaml or json'),
  ).action(async (id: string, o: StoreOptions & { output?: string }) => {
    const format = outputFormat(o.output);
    await withBotAdmin(o, async (admin, a) => {
      const i = await admin.instance(id);
      const lock = lockOf(a.locks, i);
      if (format !== 'text') return printDocs([{ ...withoutCert(i), lock: lock ?? null }], format);
      print(instanceDetails(i, lock, a.clock.now()));
    });
  });

  withStoreOptions(inst.command('rm').description('remove an instance: its certificates are refused, it must join again with a new token').argument('<id>', 'instance id or a unique prefix')).action(
    async (id: string, o: StoreOptions) =>
      withBotAdmin(o, async (admin) => {
        const i = await admin.removeInstance(id);
        print(`Instance ${i.id} of bot "${i.bot}" removed.`);
      }),
  );
}
