import { clusterAllowed } from '../../auth/policy';
import { authenticate } from '../client-identity';
import type { GateApp } from '../api';
import type { GateContext } from '../context';

/** Who am I, which clusters may I open, and which CA does this gate's TLS chain to. */
export function infoRoutes(app: GateApp, ctx: GateContext): void {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/metrics', async (_req, reply) => reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()));

  // Public: what a client pins on first use (trust on first use prints its fingerprint).
  app.get('/v1/ca', async () => ({ tlsCaPem: ctx.tls.caPem, userCaPem: ctx.cas.user.certPem }));

  app.get('/v1/whoami', async (req) => {
    const { identity: id, notAfter } = await authenticate(ctx, req, ['login', 'mfa']);
    return {
      name: id.name,
      kind: id.kind,
      usage: id.usage,
      roles: id.roles,
      kubeUsers: id.kubeUsers,
      kubeGroups: id.kubeGroups,
      clusters: id.clusters,
      loginExpires: id.loginExpires ?? null,
      notAfter,
      ...(id.mfaDevice ? { mfaDevice: id.mfaDevice, mfaVerifiedAt: id.mfaVerifiedAt } : {}),
    };
  });

  app.get('/v1/clusters', async (req) => {
    const { identity } = await authenticate(ctx, req, ['login', 'mfa']);
    const roles = await ctx.roles.resolve(identity.roles);
    return { clusters: ctx.config.clusters.filter((c) => clusterAllowed(roles, c.name)).map((c) => ({ name: c.name })), kubeUrl: publicKubeUrl(ctx.config) };
  });
}

/** Where clients reach the kube listener: configured, else public_url's host on the listener's port. */
export function publicKubeUrl(config: GateContext['config']): string {
  if (config.public_kube_url) return config.public_kube_url.replace(/\/$/, '');
  const u = new URL(config.public_url);
  u.port = config.listen.kube.split(':').pop()!;
  return u.origin;
}
