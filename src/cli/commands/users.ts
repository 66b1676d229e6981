import type { Command } from 'commander';
import { formatDuration } from '../../core/duration';
import { formatTable, formatTime, outputFormat, print, printDocs, withAdmin, withStoreOptions, type StoreOptions } from './admin';

const roleList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

/** `tapgate users add|ls|update|rm`: people and their roles; `add` prints a one-time enrolment link. */
export function register(program: Command): void {
  const users = program.command('users').description('manage users (people who log in with a security key)');

  withStoreOptions(
    users
      .command('add')
      .description('create a user and print a one-time link to register their security key')
      .argument('<name>')
      .requiredOption('-r, --roles <roles>', 'comma-separated roles, e.g. access,dev', roleList),
  ).action(async (name: string, opts: StoreOptions & { roles: string[] }) => {
    await withAdmin(opts, async (a) => {
      const { link } = await a.userAdmin.addUser(name, opts.roles);
      print(`User "${name}" created with roles ${opts.roles.join(', ')}.
Send them this enrolment link (it works once, for ${formatDuration(a.config.enrolment_ttl_ms)}, until ${formatTime(link.expiresAt)}):

  ${link.url}

After registering a key they log in with: tapgate login --server ${a.config.public_url}`);
    });
  });

  withStoreOptions(users.command('ls').description('list users').option('-o, --output <format>', 'text, yaml or json')).action(async (opts: StoreOptions & { output?: string }) => {
    const format = outputFormat(opts.output);
    await withAdmin(opts, async (a) => {
      const list = await a.users.list();
      if (format !== 'text') return printDocs(list.map((u) => ({ name: u.name, roles: u.roles, keys: u.keys, created: formatTime(u.createdAt) })), format);
      if (list.length === 0) return print('No users yet. Add one with: tapgate users add alice --roles access');
      print(formatTable(['NAME', 'ROLES', 'KEYS', 'CREATED'], list.map((u) => [u.name, u.roles.join(','), String(u.keys), formatTime(u.createdAt)])));
    });
  });

  withStoreOptions(
    users
      .command('update')
      .description("change a user's roles (takes effect at their next login)")
      .argument('<name>')
      .requiredOption('-r, --roles <roles>', 'comma-separated roles', roleList),
  ).action(async (name: string, opts: StoreOptions & { roles: string[] }) => {
    await withAdmin(opts, async (a) => {
      await a.userAdmin.setRoles(name, opts.roles);
      print(`User "${name}" now has roles ${opts.roles.join(', ')}; it applies from their next login.`);
    });
  });

  withStoreOptions(users.command('rm').description('remove a user and all their security keys').argument('<name>')).action(async (name: string, opts: StoreOptions) => {
    await withAdmin(opts, async (a) => {
      await a.userAdmin.removeUser(name);
      print(`User "${name}" removed. Certificates already issued stay valid until they expire; lock the user to cut them now: tapgate lock --user ${name}`);
    });
  });
}
