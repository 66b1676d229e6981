import YAML from 'yaml';

/**
 * The bot's kubeconfig: one context per cluster (`tapgate-<cluster>`, server
 * <kubeUrl>/k/<cluster>), pointing at the certificate files by path so that kubectl and
 * long-running client-go programs pick up each renewal without being restarted.
 */
export function botKubeconfig(o: { bot: string; kubeUrl: string; clusters: string[]; certFile: string; keyFile: string; caFile?: string }): string {
  const user = `tapgate-bot-${o.bot}`;
  const name = (c: string) => `tapgate-${c}`;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    'current-context': o.clusters.length ? name(o.clusters[0]!) : '',
    clusters: o.clusters.map((c) => ({
      name: name(c),
      cluster: { server: `${o.kubeUrl.replace(/\/+$/, '')}/k/${c}`, ...(o.caFile ? { 'certificate-authority': o.caFile } : {}) },
    })),
    users: [{ name: user, user: { 'client-certificate': o.certFile, 'client-key': o.keyFile } }],
    contexts: o.clusters.map((c) => ({ name: name(c), context: { cluster: name(c), user } })),
  };
  return YAML.stringify(doc);
}
