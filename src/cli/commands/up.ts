import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GateClient } from '../../client/api-client';
import { login } from '../../client/login';
import { loadProfile, tapgateHome, type LoginState } from '../../client/profile';
import { CliTapPrompt, openBrowser } from '../../client/tap-prompt';
import { parseConfig } from '../../config/config';
import { describeError, TapgateError } from '../../core/errors';
import { startGate, type Gate } from '../../server/gate';
import { print } from './admin';
import { startAgentWithSocket } from './agent';
import { proxyInstructions, statusLines, untilSignal, withProxyFlags, type ProxyFlags } from './kube';

/** A kube context name as a gate cluster name (a-z, 0-9, ".", "_", "-"). */
export function clusterNameFromContext(context: string): string {
  const name = context
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 63);
  return name || 'default';
}

/** The current kube context (or the one asked for), with a message that says what to do when there is none. */
async function pickContext(asked?: string): Promise<{ context: string; files: string[] }> {
  const files = process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [join(homedir(), '.kube', 'config')];
  const present = files.filter((f) => existsSync(f));
  if (!present.length) {
    throw new TapgateError(
      'no_kubeconfig',
      `tapgate up puts the gate in front of your current kube context, but there is no kubeconfig at ${files.join(', ')}; get one for your cluster (e.g. \`kind create cluster\`, \`gcloud container clusters get-credentials …\`) or set KUBECONFIG`,
    );
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (e) {
    throw new TapgateError('bad_kubeconfig', `cannot read ${present.join(', ')}: ${describeError(e)}`);
  }
  const names = kc.getContexts().map((c) => c.name);
  const context = asked ?? kc.getCurrentContext();
  if (!context) {
    throw new TapgateError('no_context', `${present.join(', ')} has no current context; pick one with \`kubectl config use-context <name>\` (it has ${names.join(', ') || 'none'}) or pass --context`);
  }
  if (!names.includes(context)) throw new TapgateError('no_context', `context "${context}" is not in ${present.join(', ')} (it has ${names.join(', ') || 'none'})`);
  return { context, files: present };
}

function localUser(): string {
  let name = process.env.USER;
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      name = 'me';
    }
  }
  return clusterNameFromContext(name) || 'me';
}

/** A saved login for this gate that still works, or undefined. */
async function usableLogin(gate: Gate, user: string): Promise<LoginState | undefined> {
  let saved: LoginState | undefined;
  try {
    saved = loadProfile();
  } catch {
    return undefined;
  }
  if (!saved || saved.profile.server !== gate.ctx.config.public_url || saved.profile.user !== user || saved.profile.loginExpires < Date.now() + 5 * 60_000) return undefined;
  const client = new GateClient({ server: saved.profile.server, caPem: saved.profile.caPem, certPem: saved.certPem, keyPem: saved.keyPem });
  try {
    await client.whoami();
    return saved;
  } catch {
    return undefined; // e.g. the data dir was wiped: new CAs
  } finally {
    await client.close();
  }
}

/** First run: the local user, with the default role, registers a security key on the enrolment page. */
async function enrolIfNeeded(gate: Gate, user: string, browser: boolean): Promise<void> {
  const { users, userAdmin } = gate.services;
  const existing = await users.get(user);
  if (existing && (await users.credentials(user)).length > 0) return;
  const link = existing ? await userAdmin.addKeyLink(user) : (await userAdmin.addUser(user, ['access'])).link;
  print(`\nFirst run: register a security key for ${user} (role access) on this page:\n\n  ${link.url}\n`);
  if (browser) void openBrowser(link.url);
  while ((await users.credentials(user)).length === 0) await sleep(1000);
  print(`Security key registered for ${user}.`);
}

/** `tapgate up`: gate + agent in one process, in front of the current kube context. */
export function register(program: Command): void {
  withProxyFlags(
    program
      .command('up')
      .description('quick start: a gate (SQLite in ~/.tapgate/server) in front of your current kube context, plus the agent, in one process')
      .option('--context <name>', 'kube context to put behind the gate (default: the current one)')
      .option('--data-dir <dir>', "the gate's data directory", join(tapgateHome(), 'server'))
      .option('--api-port <n>', "the gate's API and pages port", '3025')
      .option('--kube-port <n>', "the gate's kube listener port", '3026'),
  ).action(async (o: ProxyFlags & { context?: string; dataDir: string; apiPort: string; kubePort: string }) => {
    const { context } = await pickContext(o.context);
    const cluster = clusterNameFromContext(context);
    const config = parseConfig(
      {
        data_dir: resolve(o.dataDir),
        listen: { api: `127.0.0.1:${o.apiPort}`, kube: `127.0.0.1:${o.kubePort}` },
        clusters: [{ name: cluster, context }],
        log_level: 'warn',
      },
      'tapgate up',
    );
    const gate = await startGate(config);
    try {
      if (!gate.kubeUrl) throw new TapgateError('no_kube_listener', 'this build of the gate has no kube listener');
      print(`Gate running at ${gate.ctx.config.public_url} (kube listener ${gate.kubeUrl}) for context "${context}" as cluster "${cluster}"; data in ${config.data_dir}`);
      const user = localUser();
      let state = await usableLogin(gate, user);
      if (!state) {
        await enrolIfNeeded(gate, user, o.browser);
        print('Now sign in with the same key:');
        state = await login({
          server: gate.ctx.config.public_url,
          caPem: gate.ctx.tls.caPem,
          onUrl: (url, code) => {
            print(`\n  ${url}\n\nCheck that the page shows the code  ${code}`);
            if (o.browser) void openBrowser(url);
          },
        });
        print(`Logged in as ${state.profile.user}.`);
      }
      const { agent, close } = await startAgentWithSocket({
        clusters: [cluster],
        ttlMs: o.ttl,
        port: o.port,
        holdTimeoutMs: o.holdTimeout,
        kubeconfigPath: o.kubeconfig ? resolve(o.kubeconfig) : undefined,
        kubeconfigName: 'agent',
        kubeUrl: gate.kubeUrl,
        prompt: new CliTapPrompt({ openBrowser: o.browser }),
      });
      print(`\n${proxyInstructions(agent, 'env')}\n\nReady. In another terminal:\n  export KUBECONFIG=${agent.kubeconfigPath}\n  kubectl --context ${agent.contexts[0]!.context} get pods`);
      statusLines(agent);
      await untilSignal(async () => {
        await close();
        await gate.close();
      });
    } catch (e) {
      await gate.close();
      throw e;
    }
  });
}
