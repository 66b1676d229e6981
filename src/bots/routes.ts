import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { parseDuration } from '../core/duration';
import { TapgateError } from '../core/errors';
import type { GateContext } from '../server/context';
import { validate } from '../server/validate';
import { CA_FINGERPRINT_HEADER } from './ca-fingerprint';
import { BotService, type Presented } from './service';

const services = new WeakMap<GateContext, BotService>();

/**
 * The one BotService of a gate: the API routes and the kube listener (observeUse) must share its
 * generation cache. Created on first use.
 */
export function botService(ctx: GateContext): BotService {
  let svc = services.get(ctx);
  if (!svc) {
    svc = new BotService({
      db: ctx.db,
      clock: ctx.clock,
      audit: ctx.audit,
      locks: ctx.locks,
      roles: ctx.roles,
      ca: ctx.cas.bot,
      clusterNames: () => ctx.config.clusters.map((c) => c.name),
      tlsCaPem: () => ctx.tls.caPem,
      kubeUrl: () => kubeUrlOf(ctx),
    });
    services.set(ctx, svc);
    void svc.start().catch((e: unknown) => ctx.log.warn({ err: e }, 'bots: cannot listen for removals; caches heal within seconds'));
  }
  return svc;
}

/** The kube listener as bots reach it: the public host name, the kube listener's port. */
export function kubeUrlOf(ctx: GateContext): string {
  const url = new URL(ctx.config.public_url);
  url.port = ctx.config.listen.kube.replace(/^.*:/, '');
  return url.origin;
}

const ttl = z
  .union([z.string().max(32), z.number().int().positive()])
  .optional()
  .transform((v, c) => {
    if (v === undefined) return undefined;
    try {
      return parseDuration(v, 'ttl');
    } catch (e) {
      c.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });
const pem = (max: number) => z.string().min(1).max(max);

const joinBody = z
  .object({ token: z.string().min(1).max(300), publicKey: pem(8_000), ttl, previousCert: pem(16_000).optional(), proof: z.string().min(1).max(2_000).optional() })
  .strict();
/** Proof of the current certificate in the body, for connections without a client certificate (key-proof.ts). */
const signedFields = {
  cert: pem(16_000).optional(),
  proof: z.string().min(1).max(2_000).optional(),
  /** epoch ms; bounded by what a Date can hold */
  at: z.number().int().nonnegative().max(8.64e15).optional(),
};
type SignedFields = { cert?: string; proof?: string; at?: number };
const allOrNone = (b: SignedFields) => [b.cert, b.proof, b.at].every((v) => v === undefined) || [b.cert, b.proof, b.at].every((v) => v !== undefined);
const together = { message: 'cert, proof and at go together (a signed request) or not at all (mutual TLS)', path: ['proof'] };

const renewBody = z.object({ publicKey: pem(8_000), ttl, ...signedFields }).strict().refine(allOrNone, together);

function heldCaFingerprint(req: FastifyRequest): string | undefined {
  const v = req.headers[CA_FINGERPRINT_HEADER];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) {
    throw new TapgateError('bad_request', `header ${CA_FINGERPRINT_HEADER}: must be the caFingerprint of an earlier answer (64 hex digits)`, { auditReason: 'invalid request header' });
  }
  return v;
}
const heartbeatBody = z
  .object({
    hostname: z.string().max(253).default(''),
    version: z.string().max(64).default(''),
    uptime: z.number().nonnegative().max(1e10).default(0),
    oneshot: z.boolean().default(false),
    ...signedFields,
  })
  .strict()
  .refine(allOrNone, together);

const peerCert = (req: FastifyRequest): Buffer | undefined => (req.raw.socket as TLSSocket).getPeerX509Certificate?.()?.raw;

/** The client certificate of the connection, or the signed proof in the body; never both, so no request is two callers at once. */
function presented(req: FastifyRequest, b: SignedFields): Presented {
  const peer = peerCert(req);
  if (b.cert === undefined || b.proof === undefined || b.at === undefined) return peer;
  if (peer?.length) {
    throw new TapgateError('bad_request', 'send either a client certificate (mutual TLS) or cert, proof and at in the body, not both', { auditReason: 'client certificate and signed proof together' });
  }
  return { certPem: b.cert, proof: b.proof, at: b.at };
}

/** POST /v1/bots/join, /v1/bots/renew and /v1/bots/heartbeat (mutual TLS, or a signed proof in the body). */
export function botRoutes(ctx: GateContext): FastifyPluginAsync {
  return async (app) => {
    const svc = botService(ctx);

    app.post('/v1/bots/join', async (req) => {
      const b = validate(joinBody, req.body);
      return svc.join({ token: b.token, publicKey: b.publicKey, ttlMs: b.ttl, previousCert: b.previousCert, proof: b.proof }, { remote: req.ip });
    });

    app.post('/v1/bots/renew', async (req) => {
      const b = validate(renewBody, req.body);
      return svc.renew(presented(req, b), { publicKey: b.publicKey, ttlMs: b.ttl, caFingerprint: heldCaFingerprint(req) }, { remote: req.ip });
    });

    app.post('/v1/bots/heartbeat', async (req) => {
      const b = validate(heartbeatBody, req.body);
      return svc.heartbeat(presented(req, b), { hostname: b.hostname, version: b.version, uptimeS: b.uptime, oneshot: b.oneshot }, { remote: req.ip });
    });
  };
}
