import { accessSync, constants } from 'node:fs';
import { delimiter } from 'node:path';

/**
 * "Open terminal with KUBECONFIG set" for one cluster. The terminal gets
 * KUBECONFIG=<overlay>:<agent kubeconfig>, where the overlay only names the current context:
 * kubectl takes current-context from the first file that sets it and writes `use-context` back
 * there, so each terminal has its own cluster without touching the agent's kubeconfig.
 */
export function contextOverlay(context: string): string {
  return ['apiVersion: v1', 'kind: Config', `current-context: ${JSON.stringify(context)}`, 'clusters: []', 'contexts: []', 'users: []', ''].join('\n');
}

export interface TerminalLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface TerminalInput {
  platform: NodeJS.Platform;
  overlayPath: string;
  kubeconfigPath: string;
  cluster: string;
  context: string;
  env: NodeJS.ProcessEnv;
  /** whether a command is on PATH (injected: tests do not look at the machine) */
  has: (command: string) => boolean;
}

const LINUX_TERMINALS: Array<[string, (title: string) => string[]]> = [
  ['x-terminal-emulator', () => []],
  ['gnome-terminal', (t) => [`--title=${t}`]],
  ['konsole', () => []],
  ['xfce4-terminal', (t) => [`--title=${t}`]],
  ['kitty', (t) => ['--title', t]],
  ['alacritty', (t) => ['--title', t]],
  ['xterm', (t) => ['-T', t]],
];

/** The command that opens a terminal for the cluster, or undefined when no terminal could be found. */
export function terminalLaunch(i: TerminalInput): TerminalLaunch | undefined {
  const kubeconfig = [i.overlayPath, i.kubeconfigPath].join(i.platform === 'win32' ? ';' : ':');
  const env = { KUBECONFIG: kubeconfig, TAPGATE_CLUSTER: i.cluster };
  const title = `kubectl · ${i.cluster}`;
  if (i.platform === 'darwin') {
    // Terminal.app does not inherit our environment, so the shell line sets it
    const line = `export KUBECONFIG=${shQuote(kubeconfig)} TAPGATE_CLUSTER=${shQuote(i.cluster)}; clear; echo ${shQuote(`kubectl now talks to ${i.cluster} (context ${i.context})`)}`;
    return { command: 'osascript', args: ['-e', `tell application "Terminal" to do script ${JSON.stringify(line)}`, '-e', 'tell application "Terminal" to activate'], env };
  }
  if (i.platform === 'win32') {
    return { command: 'cmd.exe', args: ['/c', 'start', `"${title}"`, 'cmd.exe', '/k', `echo kubectl now talks to ${i.cluster}`], env };
  }
  const preferred = i.env.TERMINAL && i.has(i.env.TERMINAL) ? i.env.TERMINAL : undefined;
  if (preferred) return { command: preferred, args: [], env };
  for (const [cmd, args] of LINUX_TERMINALS) if (i.has(cmd)) return { command: cmd, args: args(title), env };
  return undefined;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}


/** Whether an executable of that name is on PATH. */
export function onPath(command: string, env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = isExecutable): boolean {
  if (command.includes('/')) return exists(command);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir && exists(`${dir}/${command}`));
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
