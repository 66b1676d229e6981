import type { ExecCredential } from './agent-types';

/**
 * The kubectl exec plugin's answer (client.authentication.k8s.io/v1). kubectl keeps it in
 * memory until expirationTimestamp, then runs the plugin again: the expiry is the certificate's
 * (or sooner, when a shorter --ttl was asked for), never a fixed minute.
 */
export function execCredential(opts: { certPem: string; keyPem: string; notAfter: number; now: number; ttlMs?: number; interactive?: boolean }): ExecCredential {
  const expires = opts.ttlMs && opts.ttlMs > 0 ? Math.min(opts.notAfter, opts.now + opts.ttlMs) : opts.notAfter;
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    spec: { interactive: opts.interactive ?? false },
    status: {
      expirationTimestamp: new Date(expires).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      clientCertificateData: opts.certPem,
      clientKeyData: opts.keyPem,
    },
  };
}
