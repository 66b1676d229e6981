/**
 * PKI throughput per CPU core: raw ECDSA P-256 signing and verifying (the ceilings), full
 * certificate issue, and parseAndVerify cold and cached. `node --import tsx bench/pki.ts [--compare]` prints a table;
 * --compare adds the options rejected in docs/decisions/0001-x509-library.md.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, webcrypto, X509Certificate } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { CertificateAuthority, generateKeyPair } from '../src/pki/ca';
import { certificateDer, parseCertificate } from '../src/pki/certificate';
import type { Identity } from '../src/pki/identity';
import { readIdentity } from '../src/pki/identity-extensions';
import type { Row } from './row';


const WINDOW_MS = 2000;

/**
 * Calls fn in batches for about windowMs of wall time (after a short warm-up) and returns calls
 * per second of this process's CPU time: the goal is per core, and the build machines are shared,
 * so wall-clock rates there swing with whatever else runs.
 */
async function rate(fn: () => unknown, windowMs = WINDOW_MS, batch = 50): Promise<number> {
  for (let i = 0; i < batch * 4; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  while (performance.now() - t0 < windowMs) {
    for (let i = 0; i < batch; i++) await fn();
    n += batch;
  }
  const cpu = process.cpuUsage(cpu0);
  return Math.round(n / ((cpu.user + cpu.system) / 1e6));
}

const identity: Identity = {
  usage: 'mfa',
  kind: 'user',
  name: 'alice@example.com',
  roles: ['dev'],
  kubeUsers: [],
  kubeGroups: ['devs'],
  clusters: ['prod', 'staging'],
  mfaDevice: 'Y3JlZGVudGlhbC1pZC0x',
  mfaVerifiedAt: Date.now(),
  loginExpires: Date.now() + 12 * 3600_000,
};

const fmt = (n: number) => n.toLocaleString('en-US');
const vs = (what: string, value: number, ref: number) => `${what} ${fmt(ref)}/s (${(value / ref).toFixed(2)}x)`;

export async function benchPki(opts: { compare?: boolean; windowMs?: number } = {}): Promise<Row[]> {
  const windowMs = opts.windowMs ?? WINDOW_MS;
  const rows: Row[] = [];

  // Raw signature over a certificate-sized message: the ceiling for issuing.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = Buffer.alloc(650, 0x5a);
  const rawSign = await rate(() => sign('sha256', message, privateKey), windowMs);
  rows.push({ name: 'ECDSA P-256 sign (node:crypto, raw)', value: rawSign, unit: 'signatures/s (1 core)' });
  const signature = sign('sha256', message, privateKey);
  const rawVerify = await rate(() => verify('sha256', message, publicKey, signature), windowMs);
  rows.push({ name: 'ECDSA P-256 verify (node:crypto, raw)', value: rawVerify, unit: 'verifications/s (1 core)' });

  // Full issue path: client PEM key in, PEM certificate out. Clients bring fresh keys, so cycle a few.
  const ca = await CertificateAuthority.createInMemory('user');
  const keys = await Promise.all(Array.from({ length: 32 }, () => generateKeyPair()));
  let k = 0;
  const issueRate = await rate(() => ca.issue({ publicKeyPem: keys[k++ % keys.length]!.publicKeyPem, identity, ttlMs: 15 * 60_000 }), windowMs);
  rows.push({
    name: 'certificate issue (CertificateAuthority.issue)',
    value: issueRate,
    unit: 'certs/s (1 core)',
    baseline: vs('raw sign', issueRate, rawSign),
    goal: '≥ 2,000 certs/s on one core',
  });

  const issued = await ca.issue({ publicKeyPem: keys[0]!.publicKeyPem, identity, ttlMs: 15 * 60_000 });
  const der = certificateDer(issued.certPem);
  const uncached = await CertificateAuthority.createInMemory('user', undefined, { verifyCacheSize: 0 });
  const cert = await uncached.issue({ publicKeyPem: keys[0]!.publicKeyPem, identity, ttlMs: 15 * 60_000 });
  const coldDer = certificateDer(cert.certPem);
  const cold = await rate(() => uncached.parseAndVerify(coldDer), windowMs);
  rows.push({ name: 'parseAndVerify, cold (DER parse + ECDSA verify + identity)', value: cold, unit: 'certs/s (1 core)', baseline: vs('raw verify', cold, rawVerify) });
  const cached = await rate(() => ca.parseAndVerify(der), windowMs, 500);
  rows.push({ name: 'parseAndVerify, cached (sha256 + LRU hit + expiry check)', value: cached, unit: 'certs/s (1 core)', baseline: vs('cold', cached, cold) });

  if (opts.compare) rows.push(...(await rejectedOptions(keys[0]!.publicKeyPem, der, ca.certPem, windowMs, { issue: issueRate, cold })));
  return rows;
}

/** The options docs/decisions/0001-x509-library.md measured and did not take. */
async function rejectedOptions(
  publicKeyPem: string,
  der: Buffer,
  caPem: string,
  windowMs: number,
  chosen: { issue: number; cold: number },
): Promise<Row[]> {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const caKeys = (await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify'])) as CryptoKeyPair;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=bench CA',
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  const utf8 = (s: string) => {
    const b = Buffer.from(s);
    return new Uint8Array([0x0c, b.length, ...b]);
  };
  const fields = [identity.usage, identity.kind, identity.name, JSON.stringify(identity.roles), JSON.stringify(identity.kubeGroups), JSON.stringify(identity.clusters), identity.mfaDevice!, String(identity.mfaVerifiedAt), String(identity.loginExpires)];
  const spki = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  let last: InstanceType<typeof x509.X509Certificate> | undefined;
  const peculiarIssue = await rate(
    async () => {
      const publicKey = await webcrypto.subtle.importKey('spki', spki, alg, true, ['verify']);
      last = await x509.X509CertificateGenerator.create({
        serialNumber: '4a' + Date.now().toString(16),
        subject: 'CN=alice@example.com, O=dev',
        issuer: caCert.subject,
        notBefore: new Date(),
        notAfter: new Date(Date.now() + 900_000),
        signingAlgorithm: alg,
        publicKey,
        signingKey: caKeys.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.2']),
          ...fields.map((v, i) => new x509.Extension(`1.3.6.1.4.1.58793.1.${i + 1}`, false, utf8(v))),
        ],
      });
      return last.toString('pem');
    },
    windowMs,
    10,
  );
  const peculiarDer = Buffer.from(last!.rawData);
  const peculiarVerify = await rate(
    async () => {
      const c = new x509.X509Certificate(peculiarDer);
      if (!(await c.verify({ publicKey: caCert.publicKey, signatureOnly: true }))) throw new Error('bench: verify failed');
      return c.extensions.length;
    },
    windowMs,
    10,
  );
  const caKey = createPublicKey(caPem);
  const nodeX509Verify = await rate(() => {
    const c = new X509Certificate(der);
    if (!c.verify(caKey)) throw new Error('bench: verify failed');
    Date.parse(c.validTo);
    return readIdentity(parseCertificate(c.raw).extensions);
  }, windowMs);
  return [
    { name: 'rejected: issue with @peculiar/x509 (WebCrypto)', value: peculiarIssue, unit: 'certs/s (1 core)', baseline: vs('chosen', peculiarIssue, chosen.issue) },
    { name: 'rejected: verify with @peculiar/x509', value: peculiarVerify, unit: 'certs/s (1 core)', baseline: vs('chosen', peculiarVerify, chosen.cold) },
    {
      name: 'rejected: verify with node X509Certificate + DER walk for extensions',
      value: nodeX509Verify,
      unit: 'certs/s (1 core)',
      baseline: vs('chosen', nodeX509Verify, chosen.cold),
    },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchPki({ compare: process.argv.includes('--compare') });
  console.table(rows.map((r) => ({ name: r.name, value: fmt(r.value), unit: r.unit, baseline: r.baseline ?? '', goal: r.goal ?? '' })));
}
