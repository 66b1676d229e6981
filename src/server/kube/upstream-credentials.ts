import type { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import type { ClusterConfig } from '../../config/config';
import { TapgateError } from '../../core/errors';

/** TLS settings for connections to one API server. */
export interface UpstreamTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/**
 * The gate's own credentials for one cluster, read with @kubernetes/client-node so every
 * kubeconfig form kubectl accepts works: client certificates, bearer tokens, basic auth, exec
 * plugins and auth providers, or the pod's service account when the gate runs in the cluster.
 */
export class UpstreamCredentials {
  private current: string | undefined;
  private timer?: NodeJS.Timeout;

  private constructor(
    readonly cluster: string,
    /** scheme://host:port of the API server */
    readonly origin: URL,
    /** the kubeconfig server URL's path (some API servers sit under a prefix), no trailing slash */
    readonly basePath: string,
    readonly tls: UpstreamTls,
    private readonly kc: KubeConfig,
    /** exec plugins, auth providers and the in-cluster token file produce tokens that change */
    readonly dynamic: boolean,
    authorization: string | undefined,
  ) {
    this.current = authorization;
  }

  static async load(c: ClusterConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<UpstreamCredentials> {
    // Loaded on first use: the library is large (about 1,000 modules) and only the kube listener needs it.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    const where = `cluster "${c.name}"`;
    if (c.in_cluster) {
      if (!env.KUBERNETES_SERVICE_HOST) {
        throw new TapgateError('bad_config', `${where}: in_cluster is set but KUBERNETES_SERVICE_HOST is not; run the gate in a pod, or give a kubeconfig instead`);
      }
      kc.loadFromCluster();
    } else {
      const files = c.kubeconfig ? [c.kubeconfig] : (env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [join(homedir(), '.kube', 'config')]);
      const present = files.filter((f) => existsSync(f));
      if (present.length === 0) {
        throw new TapgateError('bad_config', `${where}: no kubeconfig at ${files.join(', ')}; set clusters[].kubeconfig to a file with the gate's own credentials, or in_cluster: true`);
      }
      try {
        if (present.length === 1) kc.loadFromFile(present[0]!);
        else kc.loadFromDefault();
      } catch (e) {
        throw new TapgateError('bad_config', `${where}: cannot read kubeconfig ${present.join(', ')}: ${(e as Error).message}`);
      }
      if (c.context) {
        if (!kc.getContextObject(c.context)) {
          const names = kc.getContexts().map((x) => x.name);
          throw new TapgateError('bad_config', `${where}: context "${c.context}" is not in ${present.join(', ')} (it has ${names.join(', ') || 'none'})`);
        }
        kc.setCurrentContext(c.context);
      }
    }
    const kcCluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    if (!kcCluster) throw new TapgateError('bad_config', `${where}: the kubeconfig has no current context; set clusters[].context`);
    if (kcCluster.proxyUrl) log.warn({ cluster: c.name }, 'kube listener: proxy-url in the kubeconfig is ignored; the gate connects to the API server directly');
    let server: URL;
    try {
      server = new URL(kcCluster.server);
    } catch {
      throw new TapgateError('bad_config', `${where}: the kubeconfig server "${kcCluster.server}" is not a URL`);
    }
    if (server.protocol !== 'https:') {
      throw new TapgateError('bad_config', `${where}: the API server ${server.origin} is not https; the gate only forwards over TLS`);
    }
    const dynamic = Boolean(user?.exec || user?.authProvider);
    const opts = await applied(kc, where);
    const tls: UpstreamTls = {
      ca: asBuffer(opts.ca),
      cert: asBuffer(opts.cert),
      key: asBuffer(opts.key),
      servername: opts.servername ?? undefined,
      rejectUnauthorized: opts.rejectUnauthorized !== false,
    };
    if (!tls.rejectUnauthorized) log.warn({ cluster: c.name }, 'kube listener: insecure-skip-tls-verify is set for this cluster; the API server is not authenticated');
    const origin = new URL(server.origin);
    return new UpstreamCredentials(c.name, origin, server.pathname.replace(/\/+$/, ''), tls, kc, dynamic, authorizationOf(opts));
  }

  /** The Authorization header value to send now (undefined when the client certificate alone authenticates). */
  authorization(): string | undefined {
    return this.current;
  }

  /** Keeps exec-plugin and service-account tokens fresh; the library caches them until they near expiry. */
  startRefresh(log: Logger, intervalMs = 30_000): void {
    if (!this.dynamic) return;
    this.timer = setInterval(() => {
      applied(this.kc, `cluster "${this.cluster}"`)
        .then((o) => {
          this.current = authorizationOf(o);
        })
        .catch((err: unknown) => log.warn({ err, cluster: this.cluster }, 'kube listener: refreshing upstream credentials failed; keeping the previous token'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

async function applied(kc: KubeConfig, where: string): Promise<RequestOptions> {
  const opts: RequestOptions = { headers: {} };
  try {
    await kc.applyToHTTPSOptions(opts);
  } catch (e) {
    throw new TapgateError('upstream_credentials', `${where}: the gate's credentials could not be loaded: ${(e as Error).message}`, { status: 503 });
  }
  return opts;
}

function authorizationOf(opts: RequestOptions): string | undefined {
  const h = opts.headers as Record<string, unknown> | undefined;
  const v = h?.['Authorization'] ?? h?.['authorization'];
  if (typeof v === 'string' && v) return v;
  if (opts.auth) return `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  return undefined;
}

function asBuffer(v: unknown): Buffer | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v);
  return undefined;
}
