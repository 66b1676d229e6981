import { z } from 'zod';
import type { LoginSession } from '../../auth/login-sessions';
import type { GateApp } from '../api';
import type { GateContext } from '../context';
import { abortOnClose } from '../long-poll';
import type { GateServices } from '../services';
import { validate } from '../validate';
import { ceremonyBody, publicKeyPem, requester, ttl, waitQuery } from './ceremony-schemas';

const createBody = z.object({ publicKey: publicKeyPem, ttl: ttl.optional(), requester: requester.default({}) }).strict();

/** Passwordless login: the CLI opens a session and waits; the login page runs the ceremony. */
export function loginRoutes(app: GateApp, ctx: GateContext, svc: GateServices): void {
  app.post('/v1/login/sessions', async (req, reply) => {
    const body = validate(createBody, req.body);
    const s = await svc.logins.create({ publicKeyPem: body.publicKey, ttlMs: body.ttl, requester: { ...body.requester, ip: req.ip } });
    return reply.code(201).send({ id: s.id, url: `${ctx.config.public_url}/login?session=${s.id}`, code: s.code, expiresAt: s.expiresAt });
  });

  app.get('/v1/login/sessions/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const { wait } = validate(waitQuery, req.query, 'query');
    return view(await svc.logins.wait(id, wait * 1000, abortOnClose(reply)));
  });

  app.post('/v1/login/sessions/:id/options', async (req) => {
    const { id } = req.params as { id: string };
    return svc.logins.begin(id);
  });

  app.post('/v1/login/sessions/:id/verify', async (req) => {
    const { id } = req.params as { id: string };
    const done = await svc.logins.finish(id, validate(ceremonyBody, req.body));
    return { user: done.userName, loginExpires: done.loginExpires };
  });
}

function view(s: LoginSession) {
  return {
    id: s.id,
    status: s.status,
    code: s.code,
    ...(s.userName ? { user: s.userName } : {}),
    ...(s.certPem ? { certPem: s.certPem, loginExpires: s.loginExpires } : {}),
    ...(s.reason ? { message: s.reason } : {}),
  };
}
