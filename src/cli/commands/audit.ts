import type { Command } from 'commander';
import { parseDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';
import { formatTable, formatTime, print, withAdmin, withStoreOptions, type StoreOptions } from './admin';

/** `tapgate audit ls`: what happened, including every refusal and its reason. */
export function register(program: Command): void {
  const audit = program.command('audit').description('read the audit log');
  withStoreOptions(
    audit
      .command('ls')
      .description('list audit events, oldest first')
      .option('--since <duration>', 'only the last ..., e.g. 1h', '24h')
      .option('--event <name>', 'only this event, e.g. login, mfa.tap, enrolment')
      .option('--refused', 'only refusals')
      .option('--limit <n>', 'at most this many', '1000')
      .option('--json', 'one JSON object per line'),
  ).action(async (opts: StoreOptions & { since: string; event?: string; refused?: boolean; limit: string; json?: boolean }) => {
    const sinceMs = parseDuration(opts.since, '--since');
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit <= 0) throw new TapgateError('bad_limit', '--limit takes a positive whole number');
    await withAdmin(opts, async (a) => {
      const records = await a.audit.list({ since: a.clock.now() - sinceMs, event: opts.event, outcome: opts.refused ? 'refused' : undefined, limit });
      if (opts.json) return print(records.map((r) => JSON.stringify(r)).join('\n'));
      if (records.length === 0) return print(`No audit events in the last ${opts.since}.`);
      print(formatTable(['TIME', 'EVENT', 'OUTCOME', 'ACTOR', 'REASON'], records.map((r) => [formatTime(r.ts), r.event, r.outcome, r.actor, r.reason ?? ''])));
    });
  });
}
