import { z } from 'zod';
import type { MfaRequest } from '../../auth/mfa-requests';
import { authenticate } from '../client-identity';
import type { GateApp } from '../api';
import type { GateContext } from '../context';
import { abortOnClose } from '../long-poll';
import type { GateServices } from '../services';
import { validate } from '../validate';
import { ceremonyBody, publicKeyPem, requester, ttl, waitQuery } from './ceremony-schemas';

const createBody = z
  .object({
    clusters: z.array(z.string().min(1).max(253)).min(1, 'name at least one cluster').max(100),
    ttl: ttl.optional(),
    publicKey: publicKeyPem,
    requester: requester.default({}),
  })
  .strict();

/**
 * MFA requests. The agent's calls (create, poll, cancel) carry the login certificate over mTLS;
 * the tap page's calls (options, verify, deny) are reached through the unguessable request id
 * and prove themselves with the key's signature.
 */
export function mfaRoutes(app: GateApp, ctx: GateContext, svc: GateServices): void {
  app.post('/v1/mfa/requests', async (req, reply) => {
    const login = await authenticate(ctx, req, ['login']);
    const body = validate(createBody, req.body);
    const r = await svc.mfa.create(login.identity, { clusters: body.clusters, ttlMs: body.ttl, publicKeyPem: body.publicKey, requester: { ...body.requester, ip: req.ip } });
    return reply.code(201).send({ id: r.id, tapUrl: `${ctx.config.public_url}/tap/${r.id}`, expiresAt: r.expiresAt, ttlMs: r.ttlMs, cappedBy: r.cappedBy });
  });

  app.get('/v1/mfa/requests/:id', async (req, reply) => {
    const caller = await authenticate(ctx, req, ['login', 'mfa']);
    const { id } = req.params as { id: string };
    const { wait } = validate(waitQuery, req.query, 'query');
    return view(await svc.mfa.wait(id, caller.identity, wait * 1000, abortOnClose(reply)));
  });

  app.delete('/v1/mfa/requests/:id', async (req) => {
    const caller = await authenticate(ctx, req, ['login', 'mfa']);
    const { id } = req.params as { id: string };
    return view(await svc.mfa.cancel(id, caller.identity));
  });

  app.post('/v1/mfa/requests/:id/options', async (req) => {
    const { id } = req.params as { id: string };
    return svc.mfa.begin(id);
  });

  app.post('/v1/mfa/requests/:id/verify', async (req) => {
    const { id } = req.params as { id: string };
    const done = await svc.mfa.finish(id, validate(ceremonyBody, req.body));
    return { status: 'approved', ...done };
  });

  app.post('/v1/mfa/requests/:id/deny', async (req) => {
    const { id } = req.params as { id: string };
    return { status: (await svc.mfa.deny(id)).status };
  });
}

function view(r: MfaRequest) {
  const approved = r.status === 'approved' && r.certPem;
  return {
    id: r.id,
    status: r.status,
    clusters: r.clusters,
    expiresAt: r.expiresAt,
    ...(approved ? { certPem: r.certPem, notAfter: r.notAfter, ttlMs: r.ttlMs, cappedBy: r.cappedBy } : {}),
    ...(r.reason ? { message: r.reason } : {}),
  };
}
