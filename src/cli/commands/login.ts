import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { login } from '../../client/login';
import { clientFromProfile, removeProfile, requireLogin, tapgateHome } from '../../client/profile';
import { formatDuration, parseDuration } from '../../core/duration';
import { TapgateError } from '../../core/errors';
import { formatTime, print } from './admin';

/** `tapgate login`, `logout`, `whoami`: the person's login session on this machine. */
export function register(program: Command): void {
  program
    .command('login')
    .description('sign in with your security key in the browser; saves a login certificate in ~/.tapgate')
    .requiredOption('-s, --server <url>', 'the gate, e.g. https://gate.example.com:3025')
    .option('--ttl <duration>', 'session length to ask for (the gate caps it at your roles\' max_session_ttl)')
    .option('--ca-file <file>', "the gate's CA certificate (else trusted on first use, and its fingerprint shown)")
    .option('--no-browser', 'only print the URL, do not open a browser')
    .action(async (opts: { server: string; ttl?: string; caFile?: string; browser: boolean }) => {
      let caPem: string | undefined;
      if (opts.caFile) {
        try {
          caPem = readFileSync(opts.caFile, 'utf8');
        } catch (e) {
          throw new TapgateError('bad_file', `cannot read --ca-file ${opts.caFile}: ${(e as Error).message}`);
        }
      }
      const ttlMs = opts.ttl ? parseDuration(opts.ttl, '--ttl') : undefined;
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      const state = await login({
        server: opts.server,
        ttlMs,
        caPem,
        signal: ac.signal,
        onFirstUse: (fp) => {
          print(`Trusting the gate's CA on first use.\n  SHA256 ${fp}\nCompare it with the "Gate CA" line that "tapgate server start" printed; if they differ, stop now (Ctrl-C).`);
        },
        onUrl: (url, code) => {
          print(`\nOpen this page to sign in with your security key:\n\n  ${url}\n\nCheck that the page shows the code  ${code}\nWaiting for you to sign in…`);
          if (opts.browser) openBrowser(url);
        },
      });
      print(`\nLogged in as ${state.profile.user} (roles ${state.profile.roles.join(', ')}) until ${formatTime(state.profile.loginExpires)} (${formatDuration(Math.round((state.profile.loginExpires - Date.now()) / 60_000) * 60_000)}).\nProfile saved in ${tapgateHome()}.`);
    });

  program
    .command('logout')
    .description('forget the login certificate and the trusted gate CA on this machine')
    .action(() => {
      removeProfile();
      print(`Logged out; removed the profile from ${tapgateHome()}.`);
    });

  program
    .command('whoami')
    .description('show who the saved login certificate speaks for, as the gate sees it')
    .action(async () => {
      const client = clientFromProfile(requireLogin());
      try {
        const me = await client.whoami();
        print(`${me.name} on ${client.server}
  roles            ${me.roles.join(', ')}
  kube users       ${me.kubeUsers.join(', ')}
  kube groups      ${me.kubeGroups.join(', ')}
  login ends       ${formatTime(me.loginExpires)}`);
        const clusters = await client.clusters();
        print(`  clusters         ${clusters.map((c) => c.name).join(', ') || 'none'}`);
      } finally {
        await client.close();
      }
    });
}

/** Opens the URL in the default browser when there is one; the URL is printed either way. */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No browser opener here; the URL is on screen.
  }
}
