import type { Command } from 'commander';
import { resolve } from 'node:path';
import { Agent } from '../../client/agent';
import { ControlClient, ControlServer, controlSocketPath } from '../../client/control-socket';
import { CliTapPrompt } from '../../client/tap-prompt';
import { TapgateError } from '../../core/errors';
import { print } from './admin';
import { proxyInstructions, statusLines, untilSignal, withProxyFlags, type ProxyFlags } from './kube';

/** Refuses early (before a proxy starts) when another agent answers on the control socket. */
export async function assertNoAgent(path = controlSocketPath()): Promise<void> {
  const other = await ControlClient.tryConnect(path);
  if (other) {
    other.close();
    throw new TapgateError('agent_running', `another tapgate agent is already running (control socket ${path}); see it with \`tapgate kube status\`, or stop it first`);
  }
}

/** Starts the agent and its control socket; closing stops both (and removes the kubeconfig). */
export async function startAgentWithSocket(opts: Parameters<typeof Agent.start>[0]): Promise<{ agent: Agent; control: ControlServer; close(): Promise<void> }> {
  const path = controlSocketPath();
  await assertNoAgent(path);
  const agent = await Agent.start(opts);
  let control: ControlServer;
  try {
    control = await ControlServer.listen(agent, path);
  } catch (e) {
    await agent.close();
    throw e;
  }
  return { agent, control, close: async () => void (await Promise.all([control.close(), agent.close()])) };
}

/** `tapgate agent`: the tray app's core without the tray. */
export function register(program: Command): void {
  withProxyFlags(
    program
      .command('agent')
      .description('run the local kube proxy with a control socket (the tray app without the tray): `tapgate kube status|verify|credentials` talk to it')
      .option('--clusters <names>', 'comma-separated clusters to open (default: all your roles allow)'),
  ).action(async (o: ProxyFlags & { clusters?: string }) => {
    const { agent, control, close } = await startAgentWithSocket({
      clusters: o.clusters?.split(',').map((s) => s.trim()).filter(Boolean),
      ttlMs: o.ttl,
      port: o.port,
      holdTimeoutMs: o.holdTimeout,
      kubeconfigPath: o.kubeconfig ? resolve(o.kubeconfig) : undefined,
      kubeconfigName: 'agent',
      kubeUrl: o.kubeUrl,
      prompt: new CliTapPrompt({ openBrowser: o.browser }),
    });
    print(proxyInstructions(agent, 'env'));
    process.stderr.write(`tapgate agent: control socket ${control.path}\n`);
    statusLines(agent);
    await untilSignal(close);
  });
}
