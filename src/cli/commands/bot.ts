import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { BotAgent } from '../../bots/agent/agent';
import { parseDuration } from '../../core/duration';
import { describeError, TapgateError } from '../../core/errors';

const duration = (what: string) => (v: string) => {
  try {
    return parseDuration(v, what);
  } catch (e) {
    throw new InvalidArgumentError(describeError(e));
  }
};

const collect = (v: string, prev: string[]): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

interface StartOpts {
  server: string;
  tokenFile?: string;
  destination: string;
  dataDir?: string;
  cluster: string[];
  oneshot?: boolean;
  ttl: number;
  renewalInterval: number;
  heartbeatInterval: number;
  caFile?: string;
}

export function register(program: Command): void {
  const bot = program.command('bot').description('run as a bot: machine credentials without long-lived secrets');

  bot
    .command('start')
    .description('join the gate, write tls.crt, tls.key, ca.crt and kubeconfig.yaml into a destination, and keep them renewed')
    .requiredOption('--server <url>', "the gate's API, e.g. https://gate.example.com:3025")
    .requiredOption('--destination <dir>', 'where the credentials and kubeconfig are written (guarded by a lock file)')
    .option('--token-file <file>', 'join token file (first run; every renewal for non-renewable tokens)')
    .option('--cluster <name>', 'a kubeconfig context for this cluster (repeat, or comma-separate; default: all the bot may reach)', collect, [])
    .option('--oneshot', 'join, write, report and exit (CI)')
    .option('--ttl <duration>', 'certificate lifetime to ask for', duration('--ttl'), 3_600_000)
    .option('--renewal-interval <duration>', 'how often to renew; shorter than --ttl', duration('--renewal-interval'), 20 * 60_000)
    .option('--heartbeat-interval <duration>', 'how often to report in between renewals', duration('--heartbeat-interval'), 5 * 60_000)
    .option('--data-dir <dir>', "where the instance's identity is kept between runs (default: <destination>/.tapgate-bot)")
    .option('--ca-file <file>', "CA of the gate's TLS certificate, if not a public one (the gate serves it at /v1/ca)")
    .action(async (o: StartOpts) => {
      let caPem: string | undefined;
      if (o.caFile) {
        try {
          caPem = readFileSync(o.caFile, 'utf8');
        } catch (e) {
          throw new TapgateError('bad_ca_file', `cannot read --ca-file ${o.caFile}: ${describeError(e)}`);
        }
      }
      const agent = new BotAgent({
        server: o.server,
        tokenFile: o.tokenFile,
        destination: o.destination,
        dataDir: o.dataDir,
        clusters: o.cluster,
        oneshot: !!o.oneshot,
        ttlMs: o.ttl,
        renewalIntervalMs: o.renewalInterval,
        heartbeatIntervalMs: o.heartbeatInterval,
        caPem,
        log: (msg) => process.stderr.write(`${new Date().toISOString()} tapgate bot: ${msg}\n`),
      });
      const stop = () => agent.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await agent.run();
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
      if (o.oneshot) process.stderr.write(`tapgate bot: wrote ${agent.files.kubeconfig}\n`);
    });
}
