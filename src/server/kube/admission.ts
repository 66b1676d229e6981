import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import { TapgateError } from '../../core/errors';
import type { Locks } from '../../locks/locks';
import type { Identity } from '../../pki/identity';
import { actorOf, checkCertificate, checkCluster, ROLE_DEPENDENT, type KubeAuthContext } from './auth-context';
import type { Authorizer, ClientConn } from './client-conn';
import { impersonationHeaderIn, impersonationRefusal } from './impersonation';
import type { KubeMetrics } from './metrics';
import type { RefusalAuditor } from './refusal-audit';
import type { RoleCache } from './role-cache';
import { hasDotSegment, parseGatePath, streamKindOf, type StreamKind } from './request-path';
import { KubeRefusal } from './status';
import type { Upstream } from './upstream';

const ROLE_CODES = new Set<string>(Object.values(ROLE_DEPENDENT));

/** A bot certificate the bot service refused (copied generation, removed instance) as a kube Status. */
function botRefusal(e: unknown): KubeRefusal {
  if (e instanceof KubeRefusal) return e;
  const t = e instanceof TapgateError ? e : undefined;
  return new KubeRefusal('Forbidden', t?.message ?? `the bot certificate could not be checked: ${String(e)}`, { status: t?.status ?? 403, auditReason: t?.auditReason ?? 'bot certificate refused' });
}

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
  /** certificates whose role-dependent answer already caused a role reload (once each) */
  private readonly refreshedFor = new Set<string>();

  constructor(
    private readonly deps: {
      clock: Clock;
      locks: Pick<Locks, 'match'>;
      authorizer: Authorizer;
      roles: Pick<RoleCache, 'refreshNow'>;
      upstreams: ReadonlyMap<string, Upstream>;
      auditor: RefusalAuditor;
      metrics: KubeMetrics;
      log: Logger;
      /**
       * Told of every admitted bot certificate: commits a pending generation on first use and
       * throws the refusal for a copied one (src/bots/service.ts observeUse). Sync on the hot path.
       */
      observeBotUse?: (id: Identity) => void | Promise<void>;
    },
  ) {}

  /**
   * Decides, then calls `then`: synchronously on the hot path; after a role reload when the
   * answer depends on a role the cache may not have caught up with yet (an administrator created
   * or changed it seconds ago). Each certificate triggers at most one such reload, so a client
   * cannot make the gate query the store per request.
   */
  admit(conn: ClientConn, method: string, url: string, headers: IncomingHttpHeaders, upgrade: boolean, then: (r: Admitted | KubeRefusal) => void): void {
    this.admitRoles(conn, method, url, headers, upgrade, (r) => {
      const observe = this.deps.observeBotUse;
      if (r instanceof KubeRefusal || !observe || r.ctx.identity.kind !== 'bot') return then(r);
      let pending: void | Promise<void>;
      try {
        pending = observe(r.ctx.identity);
      } catch (e) {
        return then(this.settle(conn, method, url, upgrade, botRefusal(e)));
      }
      if (!pending) return then(r);
      pending.then(
        () => then(r),
        (e: unknown) => then(this.settle(conn, method, url, upgrade, botRefusal(e))),
      );
    });
  }

  private admitRoles(conn: ClientConn, method: string, url: string, headers: IncomingHttpHeaders, upgrade: boolean, then: (r: Admitted | KubeRefusal) => void): void {
    const first = this.decide(conn, url, headers, upgrade);
    const stale = first instanceof KubeRefusal ? ROLE_CODES.has(first.code) : first.ctx.missingRoles.length > 0;
    const fp = conn.cert?.fingerprint;
    if (!stale || !fp || this.refreshedFor.has(fp)) {
      then(this.settle(conn, method, url, upgrade, first));
      return;
    }
    if (this.refreshedFor.size >= 10_000) this.refreshedFor.clear();
    this.refreshedFor.add(fp);
    void this.deps.roles
      .refreshNow()
      .then((changed) => then(this.settle(conn, method, url, upgrade, changed ? this.decide(conn, url, headers, upgrade) : first)));
  }

  /** Counts and audits a refusal; passes an admission through. */
  private settle(conn: ClientConn, method: string, url: string, upgrade: boolean, r: Admitted | KubeRefusal): Admitted | KubeRefusal {
    if (!(r instanceof KubeRefusal)) return r;
    const { deps } = this;
    const cluster = parseGatePath(url)?.cluster;
    const known = cluster !== undefined && deps.upstreams.has(cluster) ? cluster : '-';
    deps.metrics.request(known, r.status);
    deps.auditor.refused(conn.id, conn.auth?.actor ?? (conn.cert ? actorOf(conn.cert.identity) : `anonymous@${conn.remote}`), r, {
      cluster: cluster ?? null,
      method,
      path: url.length > 512 ? `${url.slice(0, 512)}...` : url,
      remote: conn.remote,
      serial: conn.cert?.serial ?? null,
      upgrade,
    });
    return r;
  }

  private decide(conn: ClientConn, url: string, headers: IncomingHttpHeaders, upgrade: boolean): Admitted | KubeRefusal {
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
      return refusal ?? new KubeRefusal('InternalError', 'the request could not be authorized', { status: 500, auditReason: 'no authorization context' });
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
