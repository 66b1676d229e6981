import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { ManualClock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { openDb } from '../store/open';
import { CertificateAuthority, generateKeyPair, publicKeyFingerprint } from './ca';
import { certificateDer } from './certificate';
import type { Identity } from './identity';
import { IDENTITY_OIDS } from './oids';

const MINUTE = 60_000;

const fullIdentity: Identity = {
  usage: 'mfa',
  kind: 'user',
  name: 'alice@example.com',
  roles: ['dev', 'ops'],
  kubeUsers: ['alice'],
  kubeGroups: ['system:authenticated', 'devs'],
  clusters: ['prod-eu', 'staging'],
  mfaDevice: 'Y3JlZGVudGlhbC1pZC0x',
  mfaVerifiedAt: Date.UTC(2026, 0, 1, 0, 0, 5),
  loginExpires: Date.UTC(2026, 0, 1, 12),
  botInstance: '5b0c8c1e-3f0a-4f5e-9a43-0e6f1e2d7c11',
  generation: 7,
  renewable: false,
  joinToken: 'ci-token',
};

const minimalIdentity: Identity = {
  usage: 'login',
  kind: 'user',
  name: 'bob',
  roles: [],
  kubeUsers: [],
  kubeGroups: [],
  clusters: [],
};

function refusal(code: string, message?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TapgateError, `expected a TapgateError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (code.startsWith('cert_')) assert.equal(e.status, 401);
    if (message) assert.match(e.message, message);
    return true;
  };
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('CertificateAuthority', () => {
  let clock: ManualClock;
  let ca: CertificateAuthority;
  let key: { publicKeyPem: string; privateKeyPem: string };

  before(async () => {
    clock = new ManualClock();
    ca = await CertificateAuthority.createInMemory('user', clock);
    key = await generateKeyPair();
  });

  test('every identity field survives issue and parseAndVerify', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: 15 * MINUTE });
    const v = ca.parseAndVerify(issued.certPem);
    assert.deepEqual(v.identity, fullIdentity);
    assert.equal(v.serial, issued.serial);
    assert.equal(v.notBefore, issued.notBefore);
    assert.equal(v.notAfter, issued.notAfter);
    assert.equal(v.notAfter, clock.now() + 15 * MINUTE);
    assert.equal(v.publicKeyFingerprint, publicKeyFingerprint(key.publicKeyPem));
    assert.match(issued.serial, /^[0-9a-f]{32}$/);
    // every field of the identity type has its own OID, and all are distinct
    assert.deepEqual(Object.keys(IDENTITY_OIDS).sort(), Object.keys(fullIdentity).sort());
    assert.equal(new Set(Object.values(IDENTITY_OIDS)).size, Object.keys(IDENTITY_OIDS).length);
  });

  test('absent optional fields read back as absent, empty lists as empty', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: minimalIdentity, ttlMs: 12 * 60 * MINUTE });
    assert.deepEqual(ca.parseAndVerify(issued.certPem).identity, minimalIdentity);
  });

  test('accepts DER as well as PEM, and names the subject after the identity or commonName', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE, commonName: 'alice (laptop)' });
    const der = certificateDer(issued.certPem);
    assert.deepEqual(ca.parseAndVerify(der).identity, fullIdentity);
    const x = new X509Certificate(der);
    assert.equal(x.subject, 'CN=alice (laptop)\nO=dev\nO=ops');
    assert.equal(x.serialNumber.toLowerCase(), issued.serial);
  });

  test('a certificate from another CA is refused', async () => {
    const other = await CertificateAuthority.createInMemory('user', clock);
    const issued = await other.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE });
    assert.throws(() => ca.parseAndVerify(issued.certPem), refusal('cert_untrusted', /different certificate authority.*tapgate login/));
    const bots = await CertificateAuthority.createInMemory('bot', clock);
    assert.throws(() => bots.parseAndVerify(issued.certPem), refusal('cert_untrusted', /join the bot/));
  });

  test('an expired certificate is refused with what to do next, also when it was cached', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: 15 * MINUTE });
    assert.ok(ca.parseAndVerify(issued.certPem)); // now cached
    assert.ok(ca.parseAndVerify(issued.certPem, { at: issued.notAfter }), 'valid through its last second');
    assert.throws(
      () => ca.parseAndVerify(issued.certPem, { at: issued.notAfter + 1 }),
      refusal('cert_expired', /^your MFA certificate expired at 2026-01-01T00:15:00Z; tap your security key again$/),
    );
    const start = clock.now();
    clock.advance(16 * MINUTE);
    try {
      assert.throws(() => ca.parseAndVerify(issued.certPem), refusal('cert_expired'));
      assert.equal(ca.parseAndVerify(issued.certPem, { allowExpired: true }).identity.name, fullIdentity.name);
      const login = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: minimalIdentity, ttlMs: MINUTE, notBefore: start });
      assert.throws(() => ca.parseAndVerify(login.certPem), refusal('cert_expired', /login session expired.*tapgate login/));
    } finally {
      clock.set(start);
    }
  });

  test('a certificate is backdated a minute for clock skew and refused before that', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE });
    assert.equal(issued.notBefore, clock.now() - MINUTE);
    assert.throws(() => ca.parseAndVerify(issued.certPem, { at: issued.notBefore - 1 }), refusal('cert_not_yet_valid', /clock/));
    const later = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE, notBefore: clock.now() + 5 * MINUTE });
    assert.equal(later.notBefore, clock.now() + 5 * MINUTE);
    assert.equal(later.notAfter, clock.now() + 6 * MINUTE);
  });

  test('a tampered certificate is refused', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: { ...fullIdentity, name: 'mallory' }, ttlMs: MINUTE });
    const der = certificateDer(issued.certPem);
    const at = der.indexOf('mallory');
    assert.ok(at > 0);
    const forged = Buffer.from(der);
    forged.write('admin!!', at, 'utf8'); // same length: still parses, signature no longer matches
    assert.throws(() => ca.parseAndVerify(forged), refusal('cert_untrusted', /signature does not match/));

    const badSig = Buffer.from(der);
    badSig[badSig.length - 3]! ^= 0x01;
    assert.throws(() => ca.parseAndVerify(badSig), refusal('cert_untrusted'));
    assert.throws(() => ca.parseAndVerify(der.subarray(0, der.length - 10)), refusal('cert_untrusted', /could not be read/));
    assert.throws(() => ca.parseAndVerify('not a certificate'), refusal('cert_untrusted', /not a certificate/));
    assert.throws(() => ca.parseAndVerify(Buffer.alloc(0)), refusal('cert_untrusted'));
    assert.equal(ca.parseAndVerify(der).identity.name, 'mallory', 'the original still verifies');
  });

  test('a server certificate names its hosts: DNS names, IPv4 and IPv6 addresses', async () => {
    const hosts = ['gate.example.com', 'localhost', '10.1.2.3', '::1', 'fe80::1:2', '::ffff:10.0.0.1', '2001:db8::8a2e:370:7334'];
    const issued = await ca.issueServerCert({ hosts, ttlMs: MINUTE });
    const x = new X509Certificate(issued.certPem);
    for (const h of hosts) {
      if (/^[\d.]+$|:/.test(h)) assert.equal(x.checkIP(h), h, h);
      else assert.equal(x.checkHost(h), h, h);
    }
    assert.equal(x.checkHost('evil.example.com'), undefined);
    assert.equal(x.subject, 'CN=gate.example.com');
    assert.ok(issued.keyPem && x.checkPrivateKey(createPrivateKey(issued.keyPem)));
  });

  test('a server certificate (no identity) is not accepted as a client identity', async () => {
    const server = await ca.issueServerCert({ hosts: ['localhost'], ttlMs: MINUTE });
    assert.throws(() => ca.parseAndVerify(server.certPem), refusal('cert_untrusted', /no Tapgate identity/));
  });

  test('verified results are shared safely from the cache', async () => {
    const issued = await ca.issue({ publicKeyPem: key.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE });
    const a = ca.parseAndVerify(issued.certPem);
    const b = ca.parseAndVerify(certificateDer(issued.certPem));
    assert.equal(a, b);
    assert.throws(() => (a.identity.roles as string[]).push('admin'), TypeError);
  });

  test('refuses bad public keys and bad lifetimes', async () => {
    const issue = (publicKeyPem: string, ttlMs = MINUTE) => ca.issue({ publicKeyPem, identity: fullIdentity, ttlMs });
    await assert.rejects(issue('hello'), refusal('bad_public_key'));
    await assert.rejects(issue(key.privateKeyPem), refusal('bad_public_key', /private key/));
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await assert.rejects(issue(weak), refusal('bad_public_key', /rsa-1024/));
    await assert.rejects(issue(key.publicKeyPem, 0), refusal('bad_ttl'));
    await assert.rejects(issue(key.publicKeyPem, 20 * 365 * 24 * 60 * MINUTE), refusal('ca_expiring'));
  });

  test('certifies Ed25519 and RSA keys too, with matching fingerprints', async () => {
    for (const [type, options] of [
      ['ed25519', {}],
      ['rsa', { modulusLength: 2048 }],
    ] as const) {
      const pem = generateKeyPairSync(type as 'rsa', options as { modulusLength: number }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
      const issued = await ca.issue({ publicKeyPem: pem, identity: fullIdentity, ttlMs: MINUTE });
      assert.equal(ca.parseAndVerify(issued.certPem).publicKeyFingerprint, publicKeyFingerprint(pem), type);
    }
  });
});

describe('CertificateAuthority.loadOrCreate', () => {
  test('creates the CA once, reloads the same one, and survives two processes racing', async () => {
    const db = await openDb({ type: 'sqlite', path: ':memory:' });
    try {
      const [a, b] = await Promise.all([CertificateAuthority.loadOrCreate(db, 'bot'), CertificateAuthority.loadOrCreate(db, 'bot')]);
      assert.equal(a.certPem, b.certPem);
      const again = await CertificateAuthority.loadOrCreate(db, 'bot');
      assert.equal(again.certPem, a.certPem);
      assert.equal(again.kind, 'bot');
      const { publicKeyPem } = await generateKeyPair();
      const identity: Identity = { ...fullIdentity, usage: 'bot', kind: 'bot', name: 'ci', renewable: true };
      const issued = await a.issue({ publicKeyPem, identity, ttlMs: 30 * MINUTE });
      assert.deepEqual(again.parseAndVerify(issued.certPem).identity, identity);

      const user = await CertificateAuthority.loadOrCreate(db, 'user');
      assert.notEqual(user.certPem, a.certPem);
      const rows = await db.all<{ kind: string }>('SELECT kind FROM cas ORDER BY kind');
      assert.deepEqual(rows.map((r) => r.kind), ['bot', 'user']);
    } finally {
      await db.close();
    }
  });

  test('a stored CA whose key does not match its certificate is refused', async () => {
    const db = await openDb({ type: 'sqlite', path: ':memory:' });
    try {
      await CertificateAuthority.loadOrCreate(db, 'host');
      await db.run('UPDATE cas SET key_pem = $1 WHERE kind = $2', [(await generateKeyPair()).privateKeyPem, 'host']);
      await assert.rejects(CertificateAuthority.loadOrCreate(db, 'host'), refusal('ca_corrupt', /does not match/));
    } finally {
      await db.close();
    }
  });
});

describe('interoperability', () => {
  let dir: string;
  let userCa: CertificateAuthority;
  let hostCa: CertificateAuthority;
  let client: { certPem: string; keyPem: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapgate-pki-'));
    userCa = await CertificateAuthority.createInMemory('user');
    hostCa = await CertificateAuthority.createInMemory('host');
    const pair = await generateKeyPair();
    const issued = await userCa.issue({ publicKeyPem: pair.publicKeyPem, identity: fullIdentity, ttlMs: 10 * MINUTE });
    client = { certPem: issued.certPem, keyPem: pair.privateKeyPem };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function handshake(clientCert: { certPem: string; keyPem: string }) {
    const server = await hostCa.issueServerCert({ hosts: ['localhost', '127.0.0.1', '::1'], ttlMs: 10 * MINUTE });
    assert.ok(server.keyPem);
    const seen: string[] = [];
    const srv = tls.createServer(
      { key: server.keyPem, cert: server.certPem, ca: [userCa.certPem], requestCert: true, rejectUnauthorized: true },
      (socket) => {
        const raw = socket.getPeerCertificate().raw;
        seen.push(userCa.parseAndVerify(raw).identity.name);
        socket.end('ok');
      },
    );
    const refused: Error[] = [];
    srv.on('tlsClientError', (e) => refused.push(e));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      return await new Promise<{ reply: string; seen: string[]; refused: Error[] }>((resolve) => {
        // the server is reached by IP: its certificate's IP SAN is what the client checks
        const sock = tls.connect({ host: '127.0.0.1', port, ca: [hostCa.certPem], cert: clientCert.certPem, key: clientCert.keyPem });
        let reply = '';
        sock.on('data', (d) => (reply += d));
        sock.on('error', () => {}); // TLS 1.3: the client learns of a refusal only as a reset, if at all
        sock.on('close', () => resolve({ reply, seen, refused }));
      });
    } finally {
      srv.close();
    }
  }

  test('an issued client certificate passes a real TLS handshake (mTLS) and its identity reads back', async () => {
    const { reply, seen, refused } = await handshake(client);
    assert.deepEqual(refused, []);
    assert.equal(reply, 'ok');
    assert.deepEqual(seen, [fullIdentity.name]);
  });

  test('a client certificate from another CA fails the TLS handshake', async () => {
    const other = await CertificateAuthority.createInMemory('user');
    const pair = await generateKeyPair();
    const issued = await other.issue({ publicKeyPem: pair.publicKeyPem, identity: fullIdentity, ttlMs: MINUTE });
    const { reply, seen, refused } = await handshake({ certPem: issued.certPem, keyPem: pair.privateKeyPem });
    assert.equal(reply, '');
    assert.deepEqual(seen, []);
    assert.ok(refused.length > 0, 'the server refused the handshake');
  });

  test('openssl reads the certificates and verifies the chain', { skip: !hasOpenssl && 'openssl not installed' }, async () => {
    const caFile = join(dir, 'ca.pem');
    const certFile = join(dir, 'client.pem');
    writeFileSync(caFile, userCa.certPem);
    writeFileSync(certFile, client.certPem);
    const text = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text, /NIST CURVE: P-256/);
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, new RegExp(IDENTITY_OIDS.name.replaceAll('.', '\\.')));
    assert.match(text, /alice@example\.com/);
    const verify = execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', caFile, certFile], { encoding: 'utf8' });
    assert.match(verify, /: OK/);

    const server = await userCa.issueServerCert({ hosts: ['gate.example.com', '10.0.0.1'], ttlMs: MINUTE });
    const serverFile = join(dir, 'server.pem');
    writeFileSync(serverFile, server.certPem);
    const serverText = execFileSync('openssl', ['x509', '-in', serverFile, '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], { encoding: 'utf8' });
    assert.match(serverText, /DNS:gate\.example\.com, IP Address:10\.0\.0\.1/);
    assert.match(serverText, /TLS Web Server Authentication/);
    assert.match(execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', caFile, serverFile], { encoding: 'utf8' }), /: OK/);
  });
});
