import type { Command } from 'commander';
import { parseDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';
import type { LockTargetKind } from '../../locks/match';
import { formatTable, formatTime, outputFormat, print, printDocs, withAdmin, withStoreOptions, type StoreOptions } from './admin';

type LockOptions = StoreOptions & { user?: string; role?: string; mfaDevice?: string; bot?: string; botInstance?: string; token?: string; ttl?: string; message?: string };

/** `tapgate lock`, `tapgate locks ls`, `tapgate unlock`: stop a user, role, key, bot, bot instance or join token at once. */
export function register(program: Command): void {
  withStoreOptions(
    program
      .command('lock')
      .description('lock a user, role, security key, bot, bot instance or join token: new certificates are refused and live sessions cut')
      .option('--user <name>', 'lock this user')
      .option('--role <name>', 'lock everyone holding this role')
      .option('--mfa-device <id>', 'lock this security key (credential id)')
      .option('--bot <name>', 'lock every instance of this bot')
      .option('--bot-instance <id>', 'lock one bot instance (see tapgate bots instances ls)')
      .option('--token <name>', 'lock every instance that joined with this token')
      .option('--ttl <duration>', 'lift the lock after this long, e.g. 1h (default: until unlocked)')
      .option('-m, --message <text>', 'shown to the locked user'),
  ).action(async (opts: LockOptions) => {
    const targets = (
      [['user', opts.user], ['role', opts.role], ['mfa_device', opts.mfaDevice], ['bot', opts.bot], ['bot_instance', opts.botInstance], ['token', opts.token]] as [LockTargetKind, string | undefined][]
    ).filter(([, v]) => v);
    if (targets.length !== 1) throw new TapgateError('bad_lock', 'name exactly one target: --user, --role, --mfa-device, --bot, --bot-instance or --token');
    const [targetKind, target] = targets[0]! as [LockTargetKind, string];
    const ttlMs = opts.ttl ? parseDuration(opts.ttl, '--ttl') : undefined;
    await withAdmin(opts, async (a) => {
      const lock = await a.locks.create({ targetKind, target, message: opts.message, ttlMs, createdBy: a.actor });
      print(`Locked ${targetKind} ${target}${lock.expiresAt ? ` until ${formatTime(lock.expiresAt)}` : ''} (lock ${lock.id}). Remove it with: tapgate unlock ${lock.id}`);
    });
  });

  const locks = program.command('locks').description('list locks');
  withStoreOptions(locks.command('ls').description('list locks in force').option('-o, --output <format>', 'text, yaml or json')).action(async (opts: StoreOptions & { output?: string }) => {
    const format = outputFormat(opts.output);
    await withAdmin(opts, async (a) => {
      const list = await a.locks.list();
      if (format !== 'text') return printDocs(list, format);
      if (list.length === 0) return print('No locks in force.');
      print(formatTable(['ID', 'TARGET', 'CREATED BY', 'EXPIRES', 'MESSAGE'], list.map((l) => [l.id, `${l.targetKind}=${l.target}`, l.createdBy, formatTime(l.expiresAt), l.message])));
    });
  });

  withStoreOptions(program.command('unlock').description('remove a lock').argument('<id>', 'lock id (see tapgate locks ls)')).action(async (id: string, opts: StoreOptions) => {
    await withAdmin(opts, async (a) => {
      if (!(await a.locks.remove(id, a.actor))) throw new TapgateError('not_found', `no lock ${id}; see "tapgate locks ls"`);
      print(`Lock ${id} removed.`);
    });
  });
}
