import type { Command } from 'commander';
import { formatDuration } from '../../core/duration';
import { formatTable, formatTime, outputFormat, print, printDocs, withAdmin, withStoreOptions, type StoreOptions } from './admin';

/** `tapgate mfa ls|add|rm`: a user's security keys. */
export function register(program: Command): void {
  const mfa = program.command('mfa').description("manage users' security keys");

  withStoreOptions(mfa.command('ls').description("list a user's security keys").argument('<user>').option('-o, --output <format>', 'text, yaml or json')).action(
    async (user: string, opts: StoreOptions & { output?: string }) => {
      const format = outputFormat(opts.output);
      await withAdmin(opts, async (a) => {
        const keys = await a.userAdmin.keys(user);
        if (format !== 'text') return printDocs(keys.map((k) => ({ id: k.id, name: k.name, created: formatTime(k.createdAt), lastUsed: formatTime(k.lastUsedAt), counter: k.counter })), format);
        if (keys.length === 0) return print(`${user} has no security keys. Give them an enrolment link: tapgate mfa add ${user}`);
        print(formatTable(['ID', 'NAME', 'CREATED', 'LAST USED'], keys.map((k) => [k.id, k.name, formatTime(k.createdAt), formatTime(k.lastUsedAt)])));
      });
    },
  );

  withStoreOptions(mfa.command('add').description('print a one-time link for an existing user to register another key').argument('<user>')).action(async (user: string, opts: StoreOptions) => {
    await withAdmin(opts, async (a) => {
      const link = await a.userAdmin.addKeyLink(user);
      print(`Enrolment link for ${user} (works once, for ${formatDuration(a.config.enrolment_ttl_ms)}):\n\n  ${link.url}`);
    });
  });

  withStoreOptions(
    mfa
      .command('rm')
      .description('remove a security key (by id, id prefix or name)')
      .argument('<user>')
      .argument('<key>')
      .option('--force', "allow removing the user's last key (they cannot log in until they enrol again)"),
  ).action(async (user: string, key: string, opts: StoreOptions & { force?: boolean }) => {
    await withAdmin(opts, async (a) => {
      const removed = await a.userAdmin.removeKey(user, key, !!opts.force);
      print(`Removed key "${removed.name}" (${removed.id}) of ${user}. To cut sessions already approved with it: tapgate lock --mfa-device ${removed.id}`);
    });
  });
}
