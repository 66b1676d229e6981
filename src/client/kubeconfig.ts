import { promises as fs, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import YAML from 'yaml';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Where Tapgate keeps its files: $TAPGATE_HOME, else ~/.tapgate. */
export function tapgateHome(): string {
  return process.env.TAPGATE_HOME || join(homedir(), '.tapgate');
}

/** The kube context name for a cluster opened through the local proxy. */
export const contextName = (cluster: string): string => `tapgate-${cluster}`;

/**
 * The kubeconfig for the local proxy: one context per cluster (`tapgate-<cluster>`, server
 * https://127.0.0.1:<port>/k/<cluster>) and the local client certificate embedded.
 */
export function localKubeconfig(opts: { proxyUrl: string; clusters: string[]; caPem: string; certPem: string; keyPem: string }): string {
  const user = 'tapgate-local';
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    'current-context': opts.clusters.length ? contextName(opts.clusters[0]!) : '',
    clusters: opts.clusters.map((c) => ({
      name: contextName(c),
      cluster: { server: `${opts.proxyUrl}/k/${c}`, 'certificate-authority-data': b64(opts.caPem) },
    })),
    users: [{ name: user, user: { 'client-certificate-data': b64(opts.certPem), 'client-key-data': b64(opts.keyPem) } }],
    contexts: opts.clusters.map((c) => ({ name: contextName(c), context: { cluster: contextName(c), user } })),
  };
  return YAML.stringify(doc);
}

/** Writes a file only its owner can read (0600), in a directory only its owner can list (0700). */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content, { mode: 0o600 });
  await fs.chmod(tmp, 0o600);
  await fs.rename(tmp, path);
}

/**
 * A kubeconfig file that is removed when the process ends, however it ends (close(), exit, or
 * a signal handled by the CLI). Nothing else removes it: a crash leaves only a client
 * certificate for a CA that died with the process.
 */
export class EphemeralKubeconfig {
  private removed = false;
  private readonly onExit = () => this.removeSync();

  private constructor(readonly path: string) {
    process.once('exit', this.onExit);
  }

  static async write(path: string, content: string): Promise<EphemeralKubeconfig> {
    await writePrivateFile(path, content);
    return new EphemeralKubeconfig(path);
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    process.removeListener('exit', this.onExit);
    await fs.rm(this.path, { force: true });
  }

  private removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
