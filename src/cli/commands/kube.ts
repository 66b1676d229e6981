import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { Agent, resolveKubeUrl } from '../../client/agent';
import type { AgentEvent, AgentStatus, ConnectionInfo } from '../../client/agent-types';
import { ControlClient } from '../../client/control-socket';
import { execPluginCredential } from '../../client/exec-plugin';
import { upsertExecContext } from '../../client/kubeconfig';
import { requireLogin } from '../../client/profile';
import { CliTapPrompt, openBrowser } from '../../client/tap-prompt';
import { formatDuration, parseDuration } from '../../core/duration';
import { describeError, TapgateError } from '../../core/errors';
import { formatTable, print } from './admin';

export const duration = (what: string) => (v: string) => {
  try {
    return parseDuration(v, what);
  } catch (e) {
    throw new InvalidArgumentError(describeError(e));
  }
};

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535 (0 = any free port)');
  return n;
};

const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export interface ProxyFlags {
  ttl?: number;
  port: number;
  holdTimeout: number;
  browser: boolean;
  kubeUrl?: string;
  kubeconfig?: string;
}

/** The flags `kube proxy`, `agent` and `up` share. */
export function withProxyFlags(cmd: Command): Command {
  return cmd
    .option('--ttl <duration>', 'MFA lifetime to ask for at each tap, e.g. 10m (default: the most your role allows)', duration('--ttl'))
    .option('--port <n>', 'local proxy port (default: any free port)', port, 0)
    .option('--hold-timeout <duration>', 'how long a kubectl call waits for the tap before it fails', duration('--hold-timeout'), 120_000)
    .option('--kubeconfig <file>', 'where to write the kubeconfig for the proxy (removed on exit)')
    .option('--kube-url <url>', "the gate's kube listener (default: $TAPGATE_KUBE_URL, else what the gate says)")
    .option('--no-browser', 'print tap links only; do not open a browser');
}

/** How to point kubectl at the proxy. */
export function proxyInstructions(agent: Agent, format: 'env' | 'json'): string {
  const contexts = agent.contexts;
  if (format === 'json') {
    return JSON.stringify({ kubeconfig: agent.kubeconfigPath, proxyUrl: agent.proxyUrl, gate: agent.kubeUrl, contexts });
  }
  const first = contexts[0]!.context;
  return [
    `# Tapgate local kube proxy on ${agent.proxyUrl} for ${contexts.map((c) => c.name).join(', ')} (gate ${agent.kubeUrl})`,
    `export KUBECONFIG=${agent.kubeconfigPath}`,
    `# contexts: ${contexts.map((c) => c.context).join(', ')} (current: ${first})`,
    `#   kubectl --context ${first} get pods`,
    '# kubectl calls wait for a security-key tap when the MFA interval has lapsed. Stop with Ctrl-C (the kubeconfig is removed).',
  ].join('\n');
}

/** Prints events and state changes on stderr as one line each. */
export function statusLines(agent: Agent): void {
  let lastState: string | undefined;
  agent.subscribe((p) => {
    if (p.event === 'event') process.stderr.write(`${stamp(p.data.at)} ${p.data.message}\n`);
    else if (p.event === 'status' && p.data.state !== lastState) {
      lastState = p.data.state;
      process.stderr.write(`${stamp(p.data.now)} ${stateLine(p.data)}\n`);
    }
  });
}

const stamp = (ms: number) => `[${new Date(ms).toTimeString().slice(0, 8)}]`;

export function stateLine(s: AgentStatus): string {
  const left = s.mfaExpires ? formatDuration(s.mfaExpires - s.now) : '';
  switch (s.state) {
    case 'verified':
      return `verified · ${left} left`;
    case 'lapsing':
      return `MFA lapses in ${left}`;
    case 'waiting-for-tap':
      return `waiting for a tap${s.pendingTap ? ` at ${s.pendingTap.tapUrl} (${s.pendingTap.held.length} held)` : ''}`;
    case 'no-session':
      return s.error ? `not verified: ${s.error}` : 'not verified · the next kubectl call asks for a tap';
    case 'error':
      return `error: ${s.error ?? 'unknown'}`;
  }
}

/** Runs until SIGINT/SIGTERM, then closes what it was given. */
export function untilSignal(close: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void close()
        .catch((e: unknown) => process.stderr.write(`tapgate: ${describeError(e)}\n`))
        .then(() => done());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The command kubectl runs for the exec plugin: this very CLI, by absolute path. */
function selfCommand(): string {
  const script = process.argv[1];
  if (script && /tapgate(\.mjs)?$/.test(script) && existsSync(script)) return realpathSync(script);
  return 'tapgate';
}

function defaultKubeconfigFile(): string {
  const env = process.env.KUBECONFIG?.split(delimiter).find(Boolean);
  return env ?? join(homedir(), '.kube', 'config');
}

export function register(program: Command): void {
  const kube = program.command('kube').description('kubectl through the gate: local proxy, exec plugin, status');

  withProxyFlags(
    kube
      .command('proxy')
      .description('run the local kube proxy: kubectl works until the MFA interval lapses, then calls wait for one tap')
      .argument('[clusters...]', 'clusters to open (default: all your roles allow)')
      .option('--format <format>', 'how to print the instructions: env or json', 'env'),
  ).action(async (clusters: string[], o: ProxyFlags & { format: string }) => {
    if (o.format !== 'env' && o.format !== 'json') throw new TapgateError('bad_format', `--format ${o.format}: use env or json`);
    const agent = await Agent.start({
      clusters: clusters.flatMap((c) => list(c)),
      ttlMs: o.ttl,
      port: o.port,
      holdTimeoutMs: o.holdTimeout,
      kubeconfigPath: o.kubeconfig ? resolve(o.kubeconfig) : undefined,
      kubeconfigName: `proxy-${process.pid}`,
      kubeUrl: o.kubeUrl,
      prompt: new CliTapPrompt({ openBrowser: o.browser }),
      processName: 'tapgate kube proxy',
    });
    print(proxyInstructions(agent, o.format));
    statusLines(agent);
    await untilSignal(() => agent.close());
  });

  kube
    .command('credentials')
    .description('kubectl exec plugin: print an ExecCredential (from the running agent, else after a tap in the browser)')
    .requiredOption('--cluster <name>', 'the cluster the credential is for')
    .option('--ttl <duration>', 'lifetime to ask for (the gate caps it at your MFA interval)', duration('--ttl'))
    .option('--no-browser', 'print the tap link only; do not open a browser')
    .action(async (o: { cluster: string; ttl?: number; browser: boolean }) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      const { credential } = await execPluginCredential({
        cluster: o.cluster,
        ttlMs: o.ttl,
        interactive: execInfoInteractive(),
        signal: ac.signal,
        onTapUrl: (url) => {
          process.stderr.write(`Tapgate: tap your security key to open ${o.cluster}:\n  ${url}\n`);
          if (o.browser) void openBrowser(url);
        },
      });
      process.stdout.write(`${JSON.stringify(credential)}\n`);
    });

  kube
    .command('login')
    .description('add a kubeconfig context that reaches the gate directly, authenticated by the exec plugin')
    .argument('<cluster>', 'the cluster on the gate')
    .option('--kubeconfig <file>', 'kubeconfig to write into (default: the first file in $KUBECONFIG, else ~/.kube/config)')
    .option('--ttl <duration>', 'lifetime the exec plugin asks for (the gate caps it)')
    .option('--kube-url <url>', "the gate's kube listener (default: $TAPGATE_KUBE_URL, else what the gate says)")
    .action(async (cluster: string, o: { kubeconfig?: string; ttl?: string; kubeUrl?: string }) => {
      if (o.ttl) parseDuration(o.ttl, '--ttl');
      const login = requireLogin();
      const kubeUrl = await resolveKubeUrl(login, o.kubeUrl);
      const file = resolve(o.kubeconfig ?? defaultKubeconfigFile());
      // the plugin must find the same login and agent as this shell
      const env = (['TAPGATE_HOME', 'TAPGATE_AGENT_SOCKET'] as const).flatMap((name) => (process.env[name] ? [{ name, value: resolve(process.env[name]!) }] : []));
      const { context } = await upsertExecContext(file, {
        cluster,
        server: `${kubeUrl}/k/${cluster}`,
        caPem: login.profile.caPem,
        command: selfCommand(),
        args: ['kube', 'credentials', '--cluster', cluster, ...(o.ttl ? ['--ttl', o.ttl] : [])],
        env,
        use: true,
      });
      print(`Wrote context ${context} to ${file} (now the current context).
  kubectl --context ${context} get pods
Each kubectl run asks the running \`tapgate agent\` for the MFA certificate (no tap while the interval lasts);
without an agent it asks for a tap in the browser.`);
    });

  kube
    .command('verify')
    .description('ask the running agent for a tap now (renews the MFA interval)')
    .option('--no-wait', 'print the tap link and return without waiting')
    .action(async (o: { wait: boolean }) => {
      const c = await ControlClient.connect();
      try {
        const verified = new Promise<AgentEvent>((res) =>
          c.subscribe((p) => {
            if (p.event === 'event' && ['verified', 'tap-cancelled', 'error', 'login-expired', 'locked'].includes(p.data.kind)) res(p.data);
          }),
        );
        const s = await c.verifyNow();
        if (s.pendingTap) print(`Tap your security key at\n  ${s.pendingTap.tapUrl}`);
        else if (s.error) throw new TapgateError('verify_failed', s.error);
        if (!o.wait) return;
        const e = await verified;
        if (e.kind !== 'verified') throw new TapgateError('verify_failed', e.message);
        print(e.message);
      } finally {
        c.close();
      }
    });

  kube
    .command('status')
    .description("show the running agent's MFA state and live connections")
    .option('--json', 'print {status, connections} as JSON')
    .action(async (o: { json?: boolean }) => {
      const c = await ControlClient.connect();
      try {
        const [s, conns] = await Promise.all([c.status(), c.connections()]);
        if (o.json) return print(JSON.stringify({ status: s, connections: conns }, null, 2));
        print(formatStatus(s));
        print(conns.length ? formatConnections(conns, s.now) : 'No live connections.');
      } finally {
        c.close();
      }
    });

  kube
    .command('forget')
    .description('make the running agent drop its MFA certificate now (live streams keep running)')
    .action(async () => {
      const c = await ControlClient.connect();
      try {
        print(stateLine(await c.forgetMfa()));
      } finally {
        c.close();
      }
    });

  kube
    .command('disconnect')
    .description('end one live connection of the running agent (ids from `tapgate kube status`)')
    .argument('<id>')
    .action(async (id: string) => {
      const c = await ControlClient.connect();
      try {
        const r = await c.disconnect({ id });
        if (!r.disconnected) throw new TapgateError('no_connection', `no live connection ${id}; see \`tapgate kube status\``);
        print(`Disconnected ${id}.`);
      } finally {
        c.close();
      }
    });
}

/** kubectl tells the plugin whether a person is at the terminal (KUBERNETES_EXEC_INFO). */
function execInfoInteractive(): boolean | undefined {
  const raw = process.env.KUBERNETES_EXEC_INFO;
  if (!raw) return undefined;
  try {
    const v = (JSON.parse(raw) as { spec?: { interactive?: unknown } }).spec?.interactive;
    return typeof v === 'boolean' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function formatStatus(s: AgentStatus): string {
  const lines = [
    `State       ${stateLine(s)}`,
    `User        ${s.user ?? '-'} on ${s.server}`,
    `Login ends  ${s.loginExpires ? `in ${formatDuration(s.loginExpires - s.now)}` : '-'}`,
    `MFA         ${s.mfaExpires ? (s.mfaExpires > s.now ? `valid ${formatDuration(s.mfaExpires - s.now)} more` : 'lapsed') : 'none yet'}${s.mfaTtlMs ? ` (granted ${formatDuration(s.mfaTtlMs)})` : ''}`,
    `Kubeconfig  ${s.kubeconfigPath ?? '-'}`,
    `Contexts    ${s.clusters.map((c) => c.context).join(', ')}`,
  ];
  if (s.pendingTap) lines.push(`Tap at      ${s.pendingTap.tapUrl} (gives up in ${formatDuration(s.pendingTap.giveUpAt - s.now)})`);
  return lines.join('\n');
}

const bytes = (n: number) => (n < 1024 ? `${n}B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)}K` : `${(n / 1024 ** 2).toFixed(1)}M`);

export function formatConnections(conns: ConnectionInfo[], now: number): string {
  return formatTable(
    ['ID', 'CLUSTER', 'KIND', 'WHAT', 'PROCESS', 'AGE', 'IN', 'OUT', 'STATE'],
    conns.map((c) => [
      c.id,
      c.cluster,
      c.kind,
      c.summary,
      c.process ? `${c.process.pid} ${c.process.command.length > 40 ? `${c.process.command.slice(0, 39)}…` : c.process.command}` : '-',
      formatDuration(now - c.startedAt),
      bytes(c.bytesIn),
      bytes(c.bytesOut),
      c.state,
    ]),
  );
}
