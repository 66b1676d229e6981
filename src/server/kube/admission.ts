import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import type { Locks } from '../../locks/locks';
import { checkCertificate, checkCluster, type KubeAuthContext } from './auth-context';
import type { Authorizer, ClientConn } from './client-conn';
import { impersonationHeaderIn, impersonationRefusal } from './impersonation';
import type { KubeMetrics } from './metrics';
import type { RefusalAuditor } from './refusal-audit';
import { hasDotSegment, parseGatePath, streamKindOf, type StreamKind } from './request-path';
import { KubeRefusal } from './status';
import type { Upstream } from './upstream';

/** A request the gate lets through, with everything the forwarding paths need. */
export interface Admitted {
  ctx: KubeAuthContext;
  cluster: string;
  upstream: Upstream;
  /** path and query as the client sent them below /k/<cluster> */
  kubePath: string;
  /** what is sent upstream: the cluster's base path + kubePath */
  upstreamPath: string;
  stream: StreamKind | undefined;
}

/**
 * The one decision every request on the kube listener goes through, plain or upgrade: a
 * verified certificate, valid now, not locked, for a configured cluster it may reach, without
 * impersonation headers. Refusals are audited (throttled) and counted here.
 */
export class Admission {
  constructor(
    private readonly deps: {
      clock: Clock;
      locks: Pick<Locks, 'match'>;
      authorizer: Authorizer;
      upstreams: ReadonlyMap<string, Upstream>;
      auditor: RefusalAuditor;
      metrics: KubeMetrics;
      log: Logger;
    },
  ) {}

  admit(conn: ClientConn, method: string, url: string, headers: IncomingHttpHeaders, upgrade: boolean): Admitted | KubeRefusal {
    const { deps } = this;
    const gatePath = parseGatePath(url);
    const cluster = gatePath?.cluster;
    const ctx = deps.authorizer.contextFor(conn);
    let refusal: KubeRefusal | undefined | null = conn.certRefusal;
    if (!refusal && ctx) refusal = checkCertificate(ctx, deps.clock.now(), deps.locks.match(ctx.identity));
    let upstream: Upstream | undefined;
    if (!refusal && ctx) {
      upstream = cluster === undefined ? undefined : deps.upstreams.get(cluster);
      if (!gatePath || !upstream) refusal = this.unknownCluster(ctx, cluster);
      else refusal = checkCluster(ctx, gatePath.cluster);
    }
    if (!refusal && gatePath && hasDotSegment(gatePath.upstreamPath)) {
      refusal = new KubeRefusal('BadRequest', 'the request path has "." or ".." segments, which the kube listener does not forward; kubectl never sends them', {
        status: 400,
        auditReason: 'dot segment in path',
      });
    }
    if (!refusal && ctx) {
      const header = impersonationHeaderIn(headers);
      if (header) refusal = impersonationRefusal(header, ctx.as);
    }
    if (refusal || !ctx || !gatePath || !upstream) {
      const r = refusal ?? new KubeRefusal('InternalError', 'the request could not be authorized', { status: 500, auditReason: 'no authorization context' });
      const known = cluster !== undefined && deps.upstreams.has(cluster) ? cluster : '-';
      deps.metrics.request(known, r.status);
      deps.auditor.refused(conn.id, ctx?.actor ?? `anonymous@${conn.remote}`, r, {
        cluster: cluster ?? null,
        method,
        path: url.length > 512 ? `${url.slice(0, 512)}...` : url,
        remote: conn.remote,
        serial: conn.cert?.serial ?? null,
        upgrade,
      });
      return r;
    }
    return {
      ctx,
      cluster: gatePath.cluster,
      upstream,
      kubePath: gatePath.upstreamPath,
      upstreamPath: upstream.creds.basePath + gatePath.upstreamPath,
      stream: streamKindOf(gatePath.upstreamPath, upgrade),
    };
  }

  private unknownCluster(ctx: KubeAuthContext, cluster: string | undefined): KubeRefusal {
    const usable = [...this.deps.upstreams.keys()].filter((c) => checkCluster(ctx, c) === null);
    const list = usable.length ? `clusters you can use here: ${usable.join(', ')}` : 'none of the clusters configured here is open to you';
    const what = cluster === undefined ? 'requests on the kube listener go to /k/<cluster>/...' : `cluster "${cluster}" is not configured on this gate`;
    return new KubeRefusal('NotFound', `${what}; ${list}`, { status: 404, auditReason: cluster === undefined ? 'path outside /k/<cluster>' : `unknown cluster ${cluster}` });
  }
}
