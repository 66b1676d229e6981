import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import YAML from 'yaml';
import { RemovedOnExit } from '../core/removed-on-exit';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

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
export class EphemeralKubeconfig extends RemovedOnExit {
  static async write(path: string, content: string): Promise<EphemeralKubeconfig> {
    await writePrivateFile(path, content);
    return new EphemeralKubeconfig(path);
  }
}

interface KubeconfigDoc {
  apiVersion?: string;
  kind?: string;
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: Record<string, unknown> }[];
  'current-context'?: string;
  [k: string]: unknown;
}

export interface ExecContext {
  /** the cluster's name on the gate */
  cluster: string;
  /** the gate kube listener URL for it: <kubeUrl>/k/<cluster> */
  server: string;
  /** the gate's TLS CA; '' = the system trust store */
  caPem: string;
  command: string;
  args: string[];
  env?: { name: string; value: string }[];
  /** make it the current context */
  use?: boolean;
}

/**
 * Adds (or replaces) the context `tapgate-<cluster>` whose user runs the exec plugin, keeping
 * everything else in the file as it was. The file is written 0600 (it may hold other secrets).
 */
export async function upsertExecContext(path: string, c: ExecContext): Promise<{ context: string }> {
  let doc: KubeconfigDoc = {};
  try {
    doc = (YAML.parse(await fs.readFile(path, 'utf8')) as KubeconfigDoc) ?? {};
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const name = contextName(c.cluster);
  const cluster: Record<string, unknown> = { server: c.server };
  if (c.caPem) cluster['certificate-authority-data'] = b64(c.caPem);
  const exec: Record<string, unknown> = {
    apiVersion: 'client.authentication.k8s.io/v1',
    command: c.command,
    args: c.args,
    interactiveMode: 'IfAvailable',
    provideClusterInfo: false,
  };
  if (c.env?.length) exec.env = c.env;
  const put = <T extends { name: string }>(list: T[] | undefined, item: T): T[] => [...(list ?? []).filter((x) => x.name !== item.name), item];
  doc.apiVersion ??= 'v1';
  doc.kind ??= 'Config';
  doc.clusters = put(doc.clusters, { name, cluster });
  doc.users = put(doc.users, { name, user: { exec } });
  doc.contexts = put(doc.contexts, { name, context: { cluster: name, user: name } });
  if (c.use || !doc['current-context']) doc['current-context'] = name;
  await writePrivateFile(path, YAML.stringify(doc));
  return { context: name };
}
