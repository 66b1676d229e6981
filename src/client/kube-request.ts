import type { ConnectionKind } from './agent-types';

/**
 * What a kube API request is, in the words a person would use: the kind of connection and a
 * kubectl-like summary ("get pods -n payments", "logs -f web-1", "exec web-1 -- sh").
 * Pure; called lazily (only when someone looks at the connection list).
 */
export interface KubeRequestInfo {
  kind: ConnectionKind;
  summary: string;
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'replace', PATCH: 'patch', DELETE: 'delete' };

/** `path` is the kube path with its query (after the /k/<cluster> prefix). */
export function describeKubeRequest(method: string, path: string, upgrade = false): KubeRequestInfo {
  const q = path.indexOf('?');
  const pathname = q < 0 ? path : path.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
  const segs = pathname.split('/').filter(Boolean).map(safeDecode);

  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) rest = segs.slice(2);
  else if (segs[0] === 'apis' && segs.length >= 3) rest = segs.slice(3);
  else return { kind: upgrade ? 'exec' : 'request', summary: discoverySummary(pathname) };

  let watch = query.get('watch') === 'true' || query.get('watch') === '1';
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  if (rest.length === 0) return { kind: 'request', summary: discoverySummary(pathname) };

  let ns: string | undefined;
  let resource: string;
  let name: string | undefined;
  let sub: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    ns = rest[1];
    resource = rest[2]!;
    name = rest[3];
    sub = rest[4];
  } else {
    resource = rest[0]!;
    name = rest[1];
    sub = rest[2];
  }
  const nsFlag = (always: boolean) => (ns && (always || ns !== 'default') ? ` -n ${ns}` : '');

  if (resource === 'pods' && name && sub) {
    // kubectl always names the container (the default one too), so it is left out
    switch (sub) {
      case 'log': {
        const follow = query.get('follow') === 'true';
        return { kind: 'logs', summary: `logs${follow ? ' -f' : ''} ${name}${nsFlag(false)}` };
      }
      case 'exec': {
        const cmd = query.getAll('command');
        const it = query.get('stdin') === 'true' ? (query.get('tty') === 'true' ? ' -it' : ' -i') : '';
        return { kind: 'exec', summary: `exec${it} ${name}${nsFlag(false)}${cmd.length ? ` -- ${cmd.join(' ')}` : ''}` };
      }
      case 'attach':
        return { kind: 'attach', summary: `attach ${name}${nsFlag(false)}` };
      case 'portforward': {
        const ports = query.getAll('ports');
        return { kind: 'port-forward', summary: `port-forward ${name}${nsFlag(false)}${ports.length ? ` ${ports.join(' ')}` : ''}` };
      }
    }
  }

  const selector = query.get('labelSelector');
  const sel = selector ? ` -l ${selector}` : '';
  if (watch) {
    const field = query.get('fieldSelector');
    // a watch on one object arrives as a list watch with fieldSelector=metadata.name=<name>
    const one = field?.startsWith('metadata.name=') ? ` ${field.slice('metadata.name='.length)}` : name ? ` ${name}` : '';
    return { kind: 'watch', summary: `watch ${resource}${one}${sel}${nsFlag(true)}` };
  }
  const verb = VERBS[method] ?? method.toLowerCase();
  const target = name ? `${resource} ${name}${sub ? ` (${sub})` : ''}` : resource;
  return { kind: upgrade ? 'exec' : 'request', summary: `${verb} ${target}${sel}${nsFlag(!name)}` };
}

function discoverySummary(pathname: string): string {
  if (pathname === '/version' || pathname === '/version/') return 'version';
  if (pathname.startsWith('/openapi')) return 'openapi';
  return `discovery ${pathname || '/'}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
