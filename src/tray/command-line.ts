/**
 * A client's command line as a person wants to read it in a window: the program's name, not
 * its path, and without the connection flags every tapgate-proxied call carries
 * (`--kubeconfig …`, `--context …`), which say nothing about what is being done.
 */
const NOISE = new Set(['--kubeconfig', '--context', '--cluster', '--user', '--request-timeout']);

export function readableCommand(command: string): string {
  const words = command.trim().split(/\s+/);
  if (!words[0]) return command;
  const out = [words[0].split(/[\\/]/).pop() ?? words[0]];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') {
      out.push(...words.slice(i)); // the remote command is the user's own business
      break;
    }
    const [flag] = w.split('=', 1);
    if (NOISE.has(flag!)) {
      if (!w.includes('=')) i++;
      continue;
    }
    out.push(w);
  }
  return out.join(' ');
}

/** The program name: "/usr/local/bin/kubectl get pods" → "kubectl". */
export function programName(command: string): string {
  const first = command.trim().split(/\s+/)[0] ?? '';
  return first.split(/[\\/]/).pop() || command;
}
