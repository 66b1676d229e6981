import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { TapgateError } from '../core/errors';
import type { CertUsage, VerifiedCert } from '../pki/identity';
import type { GateContext } from './context';

/**
 * Who is calling, from the client certificate on the TLS connection (the API asks for one but
 * does not demand it, so the browser pages work on the same port). Refusals are audited.
 */
export async function authenticate(ctx: GateContext, req: FastifyRequest, usages: CertUsage[]): Promise<VerifiedCert> {
  const der = (req.raw.socket as TLSSocket).getPeerCertificate?.(false)?.raw;
  let actor = 'anonymous';
  try {
    if (!der) throw new TapgateError('no_client_cert', 'this call needs your login certificate; run "tapgate login"', { status: 401, auditReason: 'no client certificate' });
    const cert = ctx.cas.user.parseAndVerify(der, { at: ctx.clock.now() });
    actor = `user:${cert.identity.name}`;
    if (!usages.includes(cert.identity.usage)) {
      throw new TapgateError('wrong_cert', `a ${cert.identity.usage} certificate cannot be used here; run "tapgate login" and use its certificate`, { status: 403, auditReason: `${cert.identity.usage} certificate presented for ${req.routeOptions.url}` });
    }
    ctx.locks.assertUnlocked(cert.identity);
    return cert;
  } catch (e) {
    if (e instanceof TapgateError) {
      await ctx.audit.record({ event: 'api.auth', outcome: 'refused', actor, reason: e.auditReason, data: { route: `${req.method} ${req.routeOptions.url}`, ip: req.ip, code: e.code } });
    }
    throw e;
  }
}
