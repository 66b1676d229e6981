import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { botRoutes } from '../bots/routes';
import { TapgateError } from '../core/errors';
import type { GateContext } from './context';
import { requestMetrics } from './metrics';
import { enrolRoutes } from './routes/enrol';
import { infoRoutes } from './routes/info';
import { loginRoutes } from './routes/login';
import { mfaRoutes } from './routes/mfa';
import { pageRoutes } from './routes/pages';
import type { GateServices } from './services';

export const BODY_LIMIT = 64 * 1024;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
} as const;

export type GateApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>;

/**
 * The gate's HTTPS API and pages on one port. The TLS handshake asks for a client certificate
 * (user or bot CA) without requiring one: API calls that need an identity check it per
 * route (client-identity.ts); the browser pages need none.
 */
export function buildApi(ctx: GateContext, svc: GateServices): GateApp {
  const app = Fastify({
    https: {
      key: ctx.tls.keyPem,
      cert: ctx.tls.certPem,
      // Named in the CertificateRequest; which CA must have signed a certificate is each route's call.
      ca: [ctx.cas.user.certPem, ctx.cas.bot.certPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    loggerInstance: ctx.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
    // One debug line per request from onResponse below instead of Fastify's two info lines.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });

  // JSON only: a cross-site form or text/plain POST (no CORS preflight) gets 415, never a handler.
  app.removeContentTypeParser('text/plain');

  // Hooks run on every request: callback style (no promise per hook), headers set at once.
  app.addHook('onRequest', (_req, reply, done) => {
    reply.headers(SECURITY_HEADERS);
    done();
  });

  const metered = requestMetrics(ctx.metrics);
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metered(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    req.log.debug({ method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });

  app.setErrorHandler(async (err: FastifyError | TapgateError | Error, req, reply) => {
    if (err instanceof TapgateError) return reply.code(err.status).send({ code: err.code, message: err.message });
    const fe = err as FastifyError;
    if (fe.validation) return reply.code(400).send({ code: 'bad_request', message: `request ${fe.validationContext ?? ''}: ${fe.message}`.replace('  ', ' ') });
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ code: 'unsupported_media_type', message: 'send the request body as JSON (content-type: application/json)' });
    if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return reply.code(400).send({ code: 'bad_json', message: `the request body is not valid JSON: ${fe.message}` });
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ code: 'body_too_large', message: `request body is larger than ${BODY_LIMIT / 1024} KiB` });
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ code: (fe.code ?? 'bad_request').toLowerCase().replace(/^fst_err_/, ''), message: fe.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ code: 'internal', message: 'the gate hit an internal error; the details are in its log' });
  });

  app.setNotFoundHandler(async (req, reply) => reply.code(404).send({ code: 'not_found', message: `no such route: ${req.method} ${req.url.split('?')[0]}` }));

  infoRoutes(app, ctx);
  pageRoutes(app, ctx, svc);
  enrolRoutes(app, svc);
  loginRoutes(app, ctx, svc);
  mfaRoutes(app, ctx, svc);
  void app.register(botRoutes(ctx));
  return app;
}
