import { botService } from '../../bots/routes';
import http from 'node:http';
import http2, { type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { describeError, TapgateError } from '../../core/errors';
import type { GateContext } from '../context';
import { Admission } from './admission';
import { Authorizer, openClientConn, type ClientConn } from './client-conn';
import { Forwarder, respondH1, respondH2 } from './forwarder';
import { KubeMetrics } from './metrics';
import { RefusalAuditor } from './refusal-audit';
import { RoleCache } from './role-cache';
import { KubeRefusal, rawStatusResponse } from './status';
import { StreamRegistry, type StreamHooks, type StreamInfo } from './streams';
import { H2_SESSION_WINDOW, H2_STREAM_WINDOW, Upstream } from './upstream';
import { UpstreamCredentials } from './upstream-credentials';
import { UpgradeForwarder } from './upgrade';

export { StreamRegistry } from './streams';
export type { StreamInfo } from './streams';

export interface KubeListener {
  /** https://host:port of the listener; clients use <url>/k/<cluster> */
  url: string;
  port: number;
  streams: StreamRegistry;
  close(): Promise<void>;
}

/** The per-connection state rides on the TLS socket; an HTTP/2 session reads it through its socket proxy. */
const kConn = Symbol('tapgate.kube.conn');
type WithConn = { [kConn]?: ClientConn };

const SESSION_KINDS = new Set(['exec', 'attach', 'port-forward']);

/**
 * The gate's kube listener: mutual TLS on its own port, `/k/<cluster>/<kube path>`. TLS is
 * terminated here and each connection handed by ALPN to an HTTP/2 server (core stream API, no
 * compatibility objects) or an HTTP/1.1 server (kubectl direct, bots, upgrades). Client
 * certificates are requested but checked in code so that every refusal is a kube Status.
 */
export async function startKubeListener(ctx: GateContext): Promise<KubeListener> {
  const log = ctx.log.child({ component: 'kube-listener' });

  const upstreams = new Map<string, Upstream>();
  const credentials: UpstreamCredentials[] = [];
  try {
    for (const c of ctx.config.clusters) {
      const creds = await UpstreamCredentials.load(c, log);
      creds.startRefresh(log);
      credentials.push(creds);
      upstreams.set(c.name, new Upstream(creds, log));
    }
  } catch (e) {
    for (const c of credentials) c.stop();
    throw e;
  }
  for (const u of upstreams.values()) u.warm();

  const roleCache = new RoleCache(ctx.roles, log);
  await roleCache.start();
  const authorizer = new Authorizer(roleCache);
  const metrics = new KubeMetrics(ctx.metrics.registry);
  const auditor = new RefusalAuditor(ctx.audit, ctx.clock, log);
  const registry = new StreamRegistry(ctx.clock, ctx.locks, sessionHooks(ctx, log, metrics));
  registry.start(250, () => auditor.flush());
  // A lock created anywhere (any replica) reloads the lock cache and lands here: cut at once.
  const unsubscribeLocks = ctx.locks.onChange(() => registry.sweep());

  const bots = botService(ctx);
  const admission = new Admission({ clock: ctx.clock, locks: ctx.locks, authorizer, roles: roleCache, upstreams, auditor, metrics, log, observeBotUse: (id) => bots.observeUse(id) });
  const forwarder = new Forwarder({ registry, metrics, clock: ctx.clock, log });
  const upgrader = new UpgradeForwarder({ registry, metrics, clock: ctx.clock, log });

  const h2 = http2.createServer({
    settings: { initialWindowSize: H2_STREAM_WINDOW, maxConcurrentStreams: 1000 },
    maxSessionMemory: 128,
  });
  const sessionConn = new WeakMap<Http2Session, ClientConn>();
  h2.on('session', (session) => {
    const conn = (session.socket as unknown as WithConn)[kConn];
    if (conn) sessionConn.set(session, conn);
    session.setLocalWindowSize(H2_SESSION_WINDOW);
    session.on('error', (err) => log.debug({ err }, 'kube listener: client HTTP/2 session error'));
  });
  h2.on('stream', (stream, headers, flags) => {
    const conn = stream.session && sessionConn.get(stream.session);
    if (!conn) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const method = headers[':method'] ?? 'GET';
    const path = headers[':path'] ?? '/';
    if (method === 'CONNECT') {
      respondH2(stream, new KubeRefusal('MethodNotAllowed', 'CONNECT is not supported on the kube listener; upgrades (exec, attach, port-forward) go over HTTP/1.1', { status: 405, auditReason: 'http2 CONNECT' }));
      return;
    }
    admission.admit(conn, method, path, headers, false, (a) => {
      if (stream.destroyed) return;
      if (a instanceof KubeRefusal) respondH2(stream, a);
      else forwarder.h2(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, a, conn);
    });
  });

  const h1 = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000, noDelay: true });
  h1.on('request', (req, res) => {
    const conn = (req.socket as WithConn)[kConn]!;
    admission.admit(conn, req.method ?? 'GET', req.url ?? '/', req.headers, false, (a) => {
      if (res.destroyed) return;
      if (a instanceof KubeRefusal) respondH1(res, a);
      else forwarder.h1(req, res, a, conn);
    });
  });
  h1.on('upgrade', (req: http.IncomingMessage, socket: TLSSocket, head: Buffer) => {
    const conn = (socket as WithConn)[kConn]!;
    socket.on('error', () => socket.destroy());
    admission.admit(conn, req.method ?? 'GET', req.url ?? '/', req.headers, true, (a) => {
      if (socket.destroyed) return;
      if (a instanceof KubeRefusal) socket.end(rawStatusResponse(a));
      else upgrader.forward(req, socket, head, a, conn);
    });
  });

  const sockets = new Set<TLSSocket>();
  const server = tls.createServer({
    cert: ctx.tls.certPem,
    key: ctx.tls.keyPem,
    ca: [ctx.cas.user.certPem, ctx.cas.bot.certPem],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['h2', 'http/1.1'],
    // Sockets handed to the HTTP servers by 'connection' skip their own noDelay default: without
    // this, a response's second write waits for the client's delayed ACK (Nagle).
    noDelay: true,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    (socket as WithConn)[kConn] = openClientConn(socket, ctx.cas);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    (socket.alpnProtocol === 'h2' ? h2 : h1).emit('connection', socket);
  });
  server.on('tlsClientError', (err) => log.debug({ err }, 'kube listener: TLS handshake failed'));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      unsubscribeLocks();
      registry.stop();
      registry.cutAll('listener_closed', 'the gate is shutting down');
      auditor.flush(true);
      roleCache.stop();
      authorizer.stop();
      for (const c of credentials) c.stop();
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      for (const s of sockets) s.destroy();
      h1.closeAllConnections();
      await closed;
      await Promise.all([...upstreams.values()].map((u) => u.close()));
    })());

  const [host, port] = splitHostPort(ctx.config.listen.kube);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await close();
    throw new TapgateError('listen_failed', `the kube listener cannot listen on ${ctx.config.listen.kube} (${describeError(e)}); set listen.kube to a free host:port`, { status: 500 });
  }
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `https://${urlHost}:${actualPort}`;
  log.info({ url, clusters: [...upstreams.keys()] }, `kube listener on ${url}`);
  return { url, port: actualPort, streams: registry, close };
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i).replace(/^\[|\]$/g, ''), Number(hp.slice(i + 1))];
}

/** Metrics for every stream; audit records for interactive sessions (exec, attach, port-forward). */
function sessionHooks(ctx: GateContext, log: Logger, metrics: KubeMetrics): StreamHooks {
  const describe = (s: StreamInfo) => ({
    stream: s.id,
    cluster: s.cluster,
    kind: s.kind,
    namespace: s.namespace ?? null,
    pod: s.pod ?? null,
    remote: s.remote,
  });
  const record = (event: string, actor: string, data: Record<string, unknown>, reason?: string) =>
    ctx.audit.record({ event, outcome: 'ok', actor, data, ...(reason ? { reason } : {}) }).catch((err: unknown) => log.error({ err }, `kube listener: writing ${event} to the audit log failed`));
  return {
    opened(s) {
      metrics.streamOpened(s.cluster, s.kind);
      if (SESSION_KINDS.has(s.kind)) {
        void record('kube.session.start', s.actor, {
          ...describe(s),
          command: s.command ?? null,
          certNotAfter: s.certNotAfter,
          deadline: Number.isFinite(s.deadline) ? s.deadline : null,
        });
      }
    },
    ended(s, reason, detail) {
      metrics.streamEnded(s.cluster, s.kind);
      if (SESSION_KINDS.has(s.kind)) {
        void record('kube.session.end', s.actor, { ...describe(s), durationMs: ctx.clock.now() - s.startedAt, detail: detail ?? null }, reason);
      } else if (detail) {
        log.info({ stream: describe(s), actor: s.actor, reason, detail }, `kube listener: ${s.kind} stream cut: ${detail}`);
      }
    },
  };
}
