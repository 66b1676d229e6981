/**
 * The listener's URL layout, `/k/<cluster>/<kube path>`, and what kind of long-running stream a
 * request opens. Pure functions; table-driven tests in request-path.test.ts.
 */

export interface GatePath {
  cluster: string;
  /** the path and query to send upstream, without the `/k/<cluster>` prefix; always starts with "/" */
  upstreamPath: string;
}

/** Anything that outlives a single request/response and so is tracked (and cut) as a stream. */
export type StreamKind = 'watch' | 'logs' | 'exec' | 'attach' | 'port-forward' | 'upgrade';

const PREFIX = '/k/';

export function parseGatePath(url: string): GatePath | undefined {
  if (!url.startsWith(PREFIX)) return undefined;
  let end = PREFIX.length;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */) break;
    end++;
  }
  const cluster = url.slice(PREFIX.length, end);
  if (!cluster) return undefined;
  const rest = url.slice(end);
  return { cluster, upstreamPath: rest.startsWith('/') ? rest : `/${rest}` };
}

/**
 * True if the path has a "." or ".." segment (also percent-encoded). Kubernetes clients never
 * send them, and behind an API server that sits under a path prefix (Rancher-style
 * /k8s/clusters/<id>) one could climb out of the configured cluster with the gate's credentials.
 */
export function hasDotSegment(upstreamPath: string): boolean {
  const [path] = splitQuery(upstreamPath);
  if (!path.includes('.') && !path.includes('%')) return false;
  for (const seg of path.split('/')) {
    if (seg.length === 0 || seg.length > 6) continue;
    const s = seg.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') return true;
  }
  return false;
}

function splitQuery(path: string): [string, string] {
  const q = path.indexOf('?');
  return q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q + 1)];
}

function flag(query: string, name: string): boolean {
  if (!query) return false;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 ? part === name : part.slice(0, eq) === name) {
      const v = eq < 0 ? '' : part.slice(eq + 1).toLowerCase();
      return v === 'true' || v === '1';
    }
  }
  return false;
}

/** The deprecated watch paths: /api/v1/watch/... and /apis/<group>/<version>/watch/... */
const LEGACY_WATCH = /^\/(?:api\/[^/]+|apis\/[^/]+\/[^/]+)\/watch\//;
const POD_SUB = /\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward|log)$/;

/** The stream kind of a request, or undefined for a plain request. Cheap string checks first: this runs on every request. */
export function streamKindOf(upstreamPath: string, upgrade: boolean): StreamKind | undefined {
  const [path, query] = splitQuery(upstreamPath);
  if (upgrade) {
    const sub = POD_SUB.exec(path)?.[3];
    if (sub === 'exec') return 'exec';
    if (sub === 'attach') return 'attach';
    if (sub === 'portforward') return 'port-forward';
    return 'upgrade';
  }
  if (path.endsWith('/log')) return flag(query, 'follow') && POD_SUB.test(path) ? 'logs' : undefined;
  if (query.includes('watch') && flag(query, 'watch')) return 'watch';
  if (path.includes('/watch/') && LEGACY_WATCH.test(path)) return 'watch';
  return undefined;
}

/** Namespace, pod and (for exec) the command of a pod subresource request, for the audit log. */
export function podTarget(upstreamPath: string): { namespace: string; pod: string; command?: string[] } | undefined {
  const [path, query] = splitQuery(upstreamPath);
  const m = POD_SUB.exec(path);
  if (!m) return undefined;
  const command = query
    .split('&')
    .filter((p) => p.startsWith('command='))
    .map((p) => safeDecode(p.slice('command='.length)));
  return { namespace: safeDecode(m[1]!), pod: safeDecode(m[2]!), ...(command.length ? { command } : {}) };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
