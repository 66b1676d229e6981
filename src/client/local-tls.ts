import { CertificateAuthority, generateKeyPair } from '../pki/ca';

/** The local proxy's TLS material: a CA that lives in memory only, a server and a client certificate. */
export interface LocalTls {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

/** They die with the process (the CA is never stored), so a long life costs nothing. */
const LOCAL_TTL_MS = 365 * 24 * 3_600_000;

export async function createLocalTls(clusters: string[]): Promise<LocalTls> {
  const ca = await CertificateAuthority.createInMemory('local');
  const server = await ca.issueServerCert({ hosts: ['127.0.0.1', 'localhost'], ttlMs: LOCAL_TTL_MS });
  const client = await generateKeyPair();
  const clientCert = await ca.issue({
    publicKeyPem: client.publicKeyPem,
    ttlMs: LOCAL_TTL_MS,
    identity: { usage: 'local-client', kind: 'local', name: 'kubectl', roles: [], kubeUsers: [], kubeGroups: [], clusters },
  });
  return {
    caPem: ca.certPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem!,
    clientCertPem: clientCert.certPem,
    clientKeyPem: client.privateKeyPem,
  };
}
