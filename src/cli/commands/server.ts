import type { Command } from 'commander';
import { caFingerprint } from '../../client/api-client';
import { loadConfig, parseConfig, type ClusterConfig } from '../../config/config';
import { startGate } from '../../server/gate';
import { print, withStoreOptions, type StoreOptions } from './admin';

const collect = (v: string, all: string[]) => [...all, v];

/** `--cluster dev` or `--cluster dev=kind-dev`: a cluster served with the gate's own kubeconfig. */
export function clusterFlag(flag: string): ClusterConfig {
  const [name = '', context] = flag.split('=', 2);
  const cfg = parseConfig({ clusters: [{ name, ...(context ? { context } : {}) }] }, '--cluster');
  return cfg.clusters[0]!;
}

/** `tapgate server start`: runs the gate until SIGINT or SIGTERM. */
export function register(program: Command): void {
  const server = program.command('server').description('run the gate (certificate authority, security keys, kube access proxy)');
  withStoreOptions(
    server
      .command('start')
      .description('start the gate; with no config it runs on https://localhost:3025 with SQLite in ~/.tapgate/server')
      .option('--cluster <name[=context]>', 'serve a cluster from your kubeconfig ($KUBECONFIG or ~/.kube/config): its current context, or the one named; repeatable', collect, []),
  ).action(
    async (opts: StoreOptions & { cluster: string[] }) => {
      const overrides: Record<string, unknown> = opts.dataDir ? { data_dir: opts.dataDir } : {};
      const config = loadConfig(opts.config, overrides);
      config.clusters.push(...opts.cluster.map(clusterFlag));
      const gate = await startGate(config);
      const c = gate.ctx.config;
      const admin = [opts.config && `--config ${opts.config}`, opts.dataDir && `--data-dir ${opts.dataDir}`].filter(Boolean).join(' ');
      const flags = admin ? ` ${admin}` : '';
      print(`Tapgate gate is running.
  API and pages   ${c.public_url}${gate.apiUrl !== c.public_url ? ` (listening on ${gate.apiUrl})` : ''}
  Kube listener   ${gate.kubeUrl ?? 'not started'}
  Data            ${c.storage.type === 'sqlite' ? c.storage.path : 'PostgreSQL'}
  Gate CA         SHA256 ${gate.ctx.tls.caPem ? caFingerprint(gate.ctx.tls.caPem) : '(TLS from tls.cert_file; system trust)'}
  Clusters        ${c.clusters.map((x) => x.name).join(', ') || 'none configured (add clusters: to tapgate.yaml, or --cluster NAME)'}

Add a user:  tapgate users add alice --roles access${flags}
Log in:      tapgate login --server ${c.public_url}
Stop with Ctrl-C.`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          print(`\n${signal}: stopping the gate…`);
          void gate.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      print('Gate stopped.');
    },
  );
}
