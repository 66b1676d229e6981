import { InvalidArgumentError, type Command } from 'commander';
import { tokensTable } from '../../bots/format';
import { formatDuration, parseDuration } from '../../core/duration';
import { outputFormat, print, printDocs, withStoreOptions, type StoreOptions } from './admin';
import { printTable, withBotAdmin } from './bots';

const bool = (v: string): boolean => {
  if (/^(true|yes|1)$/i.test(v)) return true;
  if (/^(false|no|0)$/i.test(v)) return false;
  throw new InvalidArgumentError('write true or false');
};

const int = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('write a whole number');
  return Number(v);
};

/** `tapgate tokens add|ls|rm`: join tokens. The secret is printed once, alone on stdout, for scripts. */
export function register(program: Command): void {
  const tokens = program.command('tokens').description('join tokens: the secret a bot instance joins with');

  withStoreOptions(
    tokens
      .command('add')
      .description('create a join token; its secret is printed once, on stdout')
      .requiredOption('--bot <name>', 'the bot that joins with it')
      .option('--uses <n>', 'how many instances may join with it (more than 1 needs --ttl)', int, 1)
      .option('--ttl <duration>', 'how long it may be used, e.g. 1h (needed with --uses > 1 and with --renewable=false)')
      .option('--renewable <bool>', 'false: instances renew by joining again with the token instead of with their certificates', bool, true)
      .option('--name <name>', 'token name, shown in lists, locks and audit (default: random)'),
  ).action(async (o: StoreOptions & { bot: string; uses: number; ttl?: string; renewable: boolean; name?: string }) =>
    withBotAdmin(o, async (admin) => {
      const ttlMs = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const { token, text } = await admin.addToken({ bot: o.bot, maxUses: o.uses, ttlMs, renewable: o.renewable, name: o.name });
      print(text);
      const uses = token.maxUses === 1 ? 'single use' : `${token.maxUses} uses`;
      const expiry = ttlMs === undefined ? 'never expires' : `expires in ${formatDuration(ttlMs)}`;
      const kind = token.renewable ? 'renewable' : 'non-renewable (instances renew by joining again with it)';
      process.stderr.write(
        `Token "${token.name}" for bot "${token.botName}": ${uses}, ${kind}, ${expiry}.\nThe secret above is shown only now. Hand it to the bot: tapgate bot start --token-file <file> ...\n`,
      );
    }),
  );

  withStoreOptions(tokens.command('ls').description('list join tokens (never their secrets)').option('--bot <name>', 'only this bot').option('-o, --output <format>', 'text, yaml or json')).action(
    async (o: StoreOptions & { bot?: string; output?: string }) => {
      const format = outputFormat(o.output);
      await withBotAdmin(o, async (admin, a) => {
        const list = await admin.tokens.list(o.bot);
        if (format !== 'text') return printDocs(list.map(({ secretHash: _, ...t }) => t), format);
        printTable(tokensTable(list, a.clock.now()), 'No join tokens.');
      });
    },
  );

  withStoreOptions(tokens.command('rm').description('remove a join token').argument('<name>')).action(async (name: string, o: StoreOptions) =>
    withBotAdmin(o, async (admin) => {
      const { token, affected } = await admin.removeToken(name);
      print(
        token.renewable
          ? `Token "${name}" removed; instances that joined with it keep renewing with their certificates.`
          : `Token "${name}" removed; its ${affected} instance(s) renew with it, so they stop when their certificates expire.`,
      );
    }),
  );
}
