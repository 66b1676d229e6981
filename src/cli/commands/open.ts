import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../../client/control-socket';
import { CliTapPrompt, openBrowser } from '../../client/tap-prompt';
import { TapgateError } from '../../core/errors';
import type { AgentSource } from '../../tray/agent-source';
import { checkElectron, probeHere } from '../../tray/electron-runtime';
import { parseLaunchArgs } from '../../tray/launch-args';
import { forwardLaunch, launchSocketPath } from '../../tray/single-instance';
import { startStatusPage } from '../../tray/status-server';
import { print } from './admin';
import { startAgentWithSocket } from './agent';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `tapgate open [--cluster prod]`: what an IDE task or a terminal runs to get to Tapgate. It
 * focuses the running tray (through its launch socket), else starts the tray, else — where
 * Electron cannot run — shows the running agent's status page in the browser, starting the
 * agent headless first when none runs.
 */
export function register(program: Command): void {
  program
    .command('open')
    .description('focus the running Tapgate tray, or start it; where no tray can run, open the agent\'s status page in the browser')
    .option('--cluster <name>', 'the cluster you want: asks for a tap if MFA is not verified')
    .option('--verify', 'ask for a tap now')
    .option('--server <url>', 'the gate (the tray asks before switching)')
    .option('--no-browser', 'print the status page URL instead of opening it')
    .action(async (opts: { cluster?: string; verify?: boolean; server?: string; browser: boolean }) => {
      const args = [...(opts.cluster ? ['--cluster', opts.cluster] : []), ...(opts.verify ? ['--verify'] : []), ...(opts.server ? ['--server', opts.server] : [])];
      const { request, warnings } = parseLaunchArgs(args);
      if (warnings.length) throw new TapgateError('bad_args', warnings.map((w) => w.replace(/^ignored /, 'bad ')).join('; '));

      if ((await forwardLaunch(launchSocketPath(), args)) === 'forwarded') return print('Tapgate: the running tray has it.');
      const electron = checkElectron(probeHere(repoRoot));
      if (electron.ok && existsSync(join(repoRoot, 'dist-electron', 'main.cjs'))) {
        spawn(electron.binary, [repoRoot, ...args], { detached: true, stdio: 'ignore' }).unref();
        return print('Tapgate: starting the tray…');
      }
      const why = electron.ok ? 'the tray is not built; run `npm run build`' : electron.reason;

      const running = await ControlClient.tryConnect();
      let own: Awaited<ReturnType<typeof startAgentWithSocket>> | undefined;
      if (!running) {
        print(`Tapgate: no tray can run here (${why}) and no agent is running; starting the agent headless.`);
        own = await startAgentWithSocket({ prompt: new CliTapPrompt({ openBrowser: opts.browser }), processName: 'tapgate open', kubeconfigName: 'agent' });
        print(`Local kube proxy: export KUBECONFIG=${own.agent.kubeconfigPath}`);
      }
      const agent: AgentSource = running ?? own!.agent;
      if (request.action === 'verify' || request.action === 'connect') {
        const s = await agent.status();
        if (request.action === 'verify' || (s.state !== 'verified' && s.state !== 'lapsing')) await agent.verifyNow();
      }
      const page = await startStatusPage(agent);
      print(`Tapgate status page: ${page.url}\n(serving it until you press Ctrl-C)`);
      if (opts.browser && !(await openBrowser(page.url))) print('(could not open a browser; open the link above yourself)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await page.close();
      if (own) await own.close();
      running?.close();
    });
}
