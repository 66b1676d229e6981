import type { Command } from 'commander';
import { openBotAdmin, type BotAdmin } from '../../bots/admin';
import { botsTable, instanceDetails, instancesTable } from '../../bots/format';
import type { BotInstance } from '../../bots/instances';
import { loadConfig } from '../../config/config';
import type { Locks } from '../../locks/locks';
import type { Identity } from '../../pki/identity';

interface ConfigOpt {
  config?: string;
}

/** Runs an admin action against the gate's store (run it where the gate runs, like the gate). */
export async function withBotAdmin<T>(opts: ConfigOpt, fn: (admin: BotAdmin, locks: Locks) => Promise<T>): Promise<T> {
  const { admin, locks, close } = await openBotAdmin(loadConfig(opts.config));
  try {
    return await fn(admin, locks);
  } finally {
    await close();
  }
}

const roleList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

export const instanceIdentity = (i: BotInstance): Identity => ({
  usage: 'bot',
  kind: 'bot',
  name: i.bot,
  roles: [],
  kubeUsers: [],
  kubeGroups: [],
  clusters: [],
  botInstance: i.id,
  joinToken: i.token,
});

const out = (s: string): void => void process.stdout.write(s);
const json = (v: unknown): void => out(JSON.stringify(v, null, 2) + '\n');

export function register(program: Command): void {
  const bots = program.command('bots').description('bots: machine identities whose instances join with tokens and renew by themselves');
  const cfg = (c: Command) => c.option('-c, --config <file>', 'gate configuration (default: ./tapgate.yaml)');

  cfg(bots.command('add <name>').description('create a bot').requiredOption('--roles <roles>', 'comma-separated roles its instances get')).action(
    async (name: string, o: ConfigOpt & { roles: string }) =>
      withBotAdmin(o, async (admin) => {
        const bot = await admin.addBot(name, roleList(o.roles));
        out(`bot ${bot.name} created with roles ${bot.roles.join(', ')}; give it a join token with "tapgate tokens add --bot ${bot.name}"\n`);
      }),
  );

  cfg(bots.command('update <name>').description("change a bot's roles (instances get them at their next renewal)").requiredOption('--roles <roles>', 'comma-separated roles')).action(
    async (name: string, o: ConfigOpt & { roles: string }) =>
      withBotAdmin(o, async (admin) => {
        await admin.setRoles(name, roleList(o.roles));
        out(`bot ${name} now has roles ${roleList(o.roles).join(', ')}\n`);
      }),
  );

  cfg(bots.command('ls').description('list bots').option('--json', 'machine-readable output')).action(async (o: ConfigOpt & { json?: boolean }) =>
    withBotAdmin(o, async (admin) => {
      const list = await admin.bots.list();
      const counts = new Map<string, number>();
      for (const i of await admin.instances.list()) counts.set(i.bot, (counts.get(i.bot) ?? 0) + 1);
      if (o.json) return json(list.map((b) => ({ ...b, instances: counts.get(b.name) ?? 0 })));
      out(list.length ? botsTable(list, counts) : 'no bots yet; create one with "tapgate bots add <name> --roles <role>"\n');
    }),
  );

  cfg(bots.command('rm <name>').description('remove a bot with its join tokens and instances')).action(async (name: string, o: ConfigOpt) =>
    withBotAdmin(o, async (admin) => {
      const r = await admin.removeBot(name);
      out(`bot ${name} removed with ${r.instances} instance(s) and ${r.tokens} token(s); their certificates stop working at their next use\n`);
    }),
  );

  const inst = bots.command('instances').description('running copies of bots: one per join');

  cfg(inst.command('ls').description('list bot instances').option('--bot <name>', 'only this bot').option('--json', 'machine-readable output')).action(
    async (o: ConfigOpt & { bot?: string; json?: boolean }) =>
      withBotAdmin(o, async (admin, locks) => {
        const list = await admin.instances.list(o.bot);
        if (o.json) return json(list.map((i) => ({ ...i, pendingCert: undefined, locked: !!locks.match(instanceIdentity(i)) })));
        out(list.length ? instancesTable(list, (i) => locks.match(instanceIdentity(i)), Date.now()) : 'no bot instances\n');
      }),
  );

  cfg(inst.command('show <id>').description('one instance: generation, pending renewal, authentications, heartbeats').option('--json', 'machine-readable output')).action(
    async (id: string, o: ConfigOpt & { json?: boolean }) =>
      withBotAdmin(o, async (admin, locks) => {
        const i = await admin.instance(id);
        const lock = locks.match(instanceIdentity(i));
        if (o.json) return json({ ...i, pendingCert: undefined, lock: lock ?? null });
        out(instanceDetails(i, lock, Date.now()));
      }),
  );

  cfg(inst.command('rm <id>').description('remove an instance: its certificates stop working, it must join again with a new token')).action(
    async (id: string, o: ConfigOpt) =>
      withBotAdmin(o, async (admin) => {
        const i = await admin.removeInstance(id);
        out(`instance ${i.id} of bot ${i.bot} removed\n`);
      }),
  );
}
