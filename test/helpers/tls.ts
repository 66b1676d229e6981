/**
 * Test PKI: a CA, a server certificate (SAN 127.0.0.1, ::1, localhost) and a client
 * certificate (CN = user, O = groups, as Kubernetes reads them). ECDSA P-256 via
 * WebCrypto + @peculiar/x509.
 */
import * as x509 from '@peculiar/x509';
import { webcrypto, randomBytes } from 'node:crypto';

const wc = (globalThis.crypto ?? webcrypto) as Crypto;
x509.cryptoProvider.set(wc);

const EC: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIG: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface TestPki {
  caPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** Issue another client certificate from the same CA. */
  issueClientCert(opts: { cn: string; orgs?: string[]; notAfter?: Date; notBefore?: Date }): Promise<{ certPem: string; keyPem: string }>;
  /** Issue another server certificate from the same CA. */
  issueServerCert(opts?: { dnsNames?: string[]; ips?: string[]; cn?: string }): Promise<{ certPem: string; keyPem: string }>;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await wc.subtle.exportKey('pkcs8', key));
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

function subjectName(cn: string, orgs: string[] = []): x509.JsonName {
  return [...orgs.map((o) => ({ O: [o] })), { CN: [cn] }];
}

async function genKeys(): Promise<CryptoKeyPair> {
  return (await wc.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function makeTestPki(opts: { clientCN?: string; clientOrgs?: string[]; caCN?: string } = {}): Promise<TestPki> {
  const now = Date.now();
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now + 365 * 24 * 60 * 60 * 1000);

  const caKeys = await genKeys();
  const caName = [{ CN: [opts.caCN ?? 'tapgate-test-ca'] }];
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    signingAlgorithm: SIG,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = caCert.toString('pem') + '\n';
  const caKeyPem = await keyPem(caKeys.privateKey);

  async function issue(
    subject: x509.JsonName,
    eku: string[],
    san: x509.JsonGeneralName[] | null,
    nb = notBefore,
    na = notAfter,
  ): Promise<{ certPem: string; keyPem: string }> {
    const keys = await genKeys();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(eku, false),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (san) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caCert.subject,
      notBefore: nb,
      notAfter: na,
      signingAlgorithm: SIG,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      extensions,
    });
    return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
  }

  const issueServerCert: TestPki['issueServerCert'] = (o = {}) =>
    issue(
      [{ CN: [o.cn ?? 'localhost'] }],
      [x509.ExtendedKeyUsage.serverAuth],
      [
        ...(o.dnsNames ?? ['localhost']).map((v) => ({ type: 'dns' as const, value: v })),
        ...(o.ips ?? ['127.0.0.1', '::1']).map((v) => ({ type: 'ip' as const, value: v })),
      ],
    );
  const issueClientCert: TestPki['issueClientCert'] = (o) =>
    issue(subjectName(o.cn, o.orgs), [x509.ExtendedKeyUsage.clientAuth], null, o.notBefore, o.notAfter);

  const server = await issueServerCert();
  const client = await issueClientCert({ cn: opts.clientCN ?? 'test-admin', orgs: opts.clientOrgs ?? ['system:masters'] });
  return {
    caPem,
    caKeyPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    clientCertPem: client.certPem,
    clientKeyPem: client.keyPem,
    issueClientCert,
    issueServerCert,
  };
}
