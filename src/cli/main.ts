import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeError } from '../core/errors';

const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/**
 * Which file in ./commands registers each top-level command. Only that file is loaded for a
 * run, so `tapgate kube credentials` (called by kubectl) starts fast; help loads them all.
 * main.test.ts checks this table against what the files really register.
 */
export const COMMAND_FILES: Record<string, string> = {
  create: 'admin', get: 'admin', rm: 'admin',
  agent: 'agent', audit: 'audit', bot: 'bot', bots: 'bots', kube: 'kube',
  lock: 'locks', locks: 'locks', unlock: 'locks',
  login: 'login', logout: 'login', whoami: 'login',
  mfa: 'mfa', open: 'open', server: 'server', tokens: 'tokens', up: 'up', users: 'users',
};

export function commandFiles(): string[] {
  return readdirSync(COMMANDS_DIR)
    .filter((f) => /\.(ts|js)$/.test(f) && !/\.test\.(ts|js)$/.test(f))
    .map((f) => f.replace(/\.(ts|js)$/, ''))
    .sort();
}

/**
 * The `tapgate` command. Each file in ./commands exports `register(program)` and owns one
 * command group, so concerns stay apart and this file never grows.
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('tapgate')
    .description('Kubernetes access behind a security-key tap')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const files = only ? [only] : commandFiles();
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(COMMANDS_DIR, `${f}.ts`)).href)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = await buildProgram(COMMAND_FILES[argv[2] ?? '']);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    process.stderr.write(`tapgate: ${describeError(e)}\n`);
    if (process.env.TAPGATE_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  }
}
