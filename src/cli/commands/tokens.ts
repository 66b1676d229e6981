import { InvalidArgumentError, type Command } from 'commander';
import { tokensTable } from '../../bots/format';
import { parseDuration, formatDuration } from '../../core/duration';
import { withBotAdmin } from './bots';

const bool = (v: string): boolean => {
  if (/^(true|yes|1)$/i.test(v)) return true;
  if (/^(false|no|0)$/i.test(v)) return false;
  throw new InvalidArgumentError('write true or false');
};

const int = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('write a whole number');
  return Number(v);
};

const out = (s: string): void => void process.stdout.write(s);
const err = (s: string): void => void process.stderr.write(s);

export function register(program: Command): void {
  const tokens = program.command('tokens').description('join tokens: secrets a bot instance joins with');
  const cfg = (c: Command) => c.option('-c, --config <file>', 'gate configuration (default: ./tapgate.yaml)');

  cfg(
    tokens
      .command('add')
      .description('create a join token; the secret is printed once, on stdout')
      .requiredOption('--bot <name>', 'the bot that joins with it')
      .option('--uses <n>', 'how many instances may join with it (more than 1 needs --ttl)', int, 1)
      .option('--ttl <duration>', 'how long it may be used, e.g. 1h (needed with --uses > 1 and --renewable=false)')
      .option('--renewable <bool>', 'false: instances renew by joining again with the token instead of with their certificates', bool, true)
      .option('--name <name>', 'token name (public; default: random)'),
  ).action(async (o: { config?: string; bot: string; uses: number; ttl?: string; renewable: boolean; name?: string }) =>
    withBotAdmin(o, async (admin) => {
      const ttlMs = o.ttl === undefined ? undefined : parseDuration(o.ttl, '--ttl');
      const { token, text } = await admin.addToken({ bot: o.bot, maxUses: o.uses, ttlMs, renewable: o.renewable, name: o.name });
      out(`${text}\n`);
      const uses = token.maxUses === 1 ? 'single use' : `${token.maxUses} uses`;
      const expiry = ttlMs === undefined ? 'never expires' : `expires in ${formatDuration(ttlMs)}`;
      const kind = token.renewable ? 'renewable' : 'non-renewable (instances renew by joining again with it)';
      err(`token ${token.name} for bot ${token.botName}: ${uses}, ${kind}, ${expiry}.\nThe secret above is shown only now. Give it to the bot, e.g.: tapgate bot start --token-file <file> ...\n`);
    }),
  );

  cfg(tokens.command('ls').description('list join tokens (never their secrets)').option('--bot <name>', 'only this bot').option('--json', 'machine-readable output')).action(
    async (o: { config?: string; bot?: string; json?: boolean }) =>
      withBotAdmin(o, async (admin) => {
        const list = await admin.tokens.list(o.bot);
        if (o.json) return out(JSON.stringify(list.map(({ secretHash: _, ...t }) => t), null, 2) + '\n');
        out(list.length ? tokensTable(list, Date.now()) : 'no join tokens\n');
      }),
  );

  cfg(tokens.command('rm <name>').description('remove a join token')).action(async (name: string, o: { config?: string }) =>
    withBotAdmin(o, async (admin) => {
      const { token, affected } = await admin.removeToken(name);
      out(
        token.renewable
          ? `token ${name} removed; instances that joined with it keep renewing with their certificates\n`
          : `token ${name} removed; ${affected} instance(s) that renew with it stop when their certificates expire\n`,
      );
    }),
  );
}
