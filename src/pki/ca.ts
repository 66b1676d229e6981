import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  randomBytes,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { systemClock, type Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Db } from '../store/db';
import {
  authorityKeyId,
  certificateDer,
  ECDSA_SHA256,
  EXT,
  keyIdentifier,
  name,
  parseCertificate,
  signCertificate,
  subjectAltName,
  subjectKeyId,
  toPem,
  type ParsedCertificate,
} from './certificate';
import { DerError } from './der';
import type { CertUsage, Identity, VerifiedCert } from './identity';
import { identityExtensions, IdentityEncodingError, readIdentity } from './identity-extensions';
import { LruCache } from './lru-cache';
import { X509_OIDS } from './oids';
import { readPublicKey, type CertifiableKey } from './public-key';
import { randomSerial } from './serials';

export type CaKind = 'user' | 'bot' | 'host';

export interface CaOptions {
  /** how many verified certificates parseAndVerify remembers (default 10,000; 0 turns the cache off) */
  verifyCacheSize?: number;
}

export interface IssuedCert {
  certPem: string;
  /** hex */
  serial: string;
  /** epoch ms, whole seconds as written in the certificate */
  notBefore: number;
  notAfter: number;
}

const SECOND = 1000;
const CA_LIFETIME_MS = 10 * 365 * 24 * 3600 * SECOND;
/** Issued certificates start a minute early so a client whose clock runs behind can use them at once. */
const BACKDATE_MS = 60 * SECOND;
const VERIFY_CACHE_SIZE = 10_000;

const generateKeyPairAsync = promisify(generateKeyPairCb);

/** A fresh ECDSA P-256 key pair as PEM (SPKI public, PKCS#8 private). */
export async function generateKeyPair(): Promise<{ publicKeyPem: string; privateKeyPem: string }> {
  const { publicKey, privateKey } = await generateKeyPairAsync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** sha256 of the SubjectPublicKeyInfo DER, hex; equals VerifiedCert.publicKeyFingerprint of a cert for this key. */
export function publicKeyFingerprint(publicKeyPem: string): string {
  return keyFingerprint(readPublicKey(publicKeyPem));
}

/** publicKeyFingerprint of a key already read (readPublicKey), for callers that also issue for it. */
export const keyFingerprint = (key: CertifiableKey): string => sha256Hex(key.spki);

const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const floorToSecond = (ms: number): number => Math.floor(ms / SECOND) * SECOND;
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** What to call a certificate of this usage, and what its holder does when it lapses. */
const LAPSE: Record<CertUsage, { what: string; next: string }> = {
  mfa: { what: 'your MFA certificate', next: 'tap your security key again' },
  login: { what: 'your login session', next: 'run `tapgate login` and tap your security key again' },
  bot: { what: 'the bot certificate', next: 'the bot must renew before expiry, or join again with a new token' },
  'local-client': { what: 'the local client certificate', next: 'restart `tapgate agent` (or the tray app) to get a fresh kubeconfig' },
  host: { what: 'the server certificate', next: 'restart the server to issue a new one' },
};

/** What a holder of a certificate from a CA of this kind does when the gate does not trust it. */
const UNTRUSTED_NEXT: Record<string, string> = {
  user: 'run `tapgate login` to get a certificate from this gate',
  bot: 'join the bot to this gate again',
  host: 'check that you are connecting to the right gate',
  local: 'restart `tapgate agent` (or the tray app) and use the kubeconfig it writes',
};

function deepFreeze(v: VerifiedCert): VerifiedCert {
  for (const list of [v.identity.roles, v.identity.kubeUsers, v.identity.kubeGroups, v.identity.clusters]) Object.freeze(list);
  Object.freeze(v.identity);
  return Object.freeze(v);
}

/**
 * An X.509 CA for one kind of certificate (user, bot, host, or the local proxy's in-memory CA).
 * Issues ECDSA P-256 / SHA-256 certificates with the Identity in private extensions and verifies
 * them synchronously, with verified certificates cached by fingerprint for the per-request path.
 */
export class CertificateAuthority {
  readonly certPem: string;
  /** when this CA's own certificate ends; nothing it issues may outlive it */
  readonly notAfter: number;
  private readonly publicKey: KeyObject;
  private readonly subject: Buffer;
  private readonly authorityKeyId: Buffer;
  private readonly verified: LruCache<string, VerifiedCert> | undefined;

  private constructor(
    readonly kind: string,
    certDer: Buffer,
    private readonly key: KeyObject,
    private readonly clock: Clock,
    opts: CaOptions = {},
  ) {
    const cacheSize = opts.verifyCacheSize ?? VERIFY_CACHE_SIZE;
    this.verified = cacheSize > 0 ? new LruCache(cacheSize) : undefined;
    const own = parseCertificate(certDer);
    this.certPem = toPem(certDer);
    this.notAfter = own.notAfter;
    this.subject = own.subject;
    this.publicKey = createPublicKey(key);
    this.authorityKeyId = authorityKeyId(keyIdentifier(own.spki));
  }

  /**
   * The CA of this kind stored in the `cas` table, created on first use. When two processes race
   * to create it, both insert, one insert wins, and both use what the table holds.
   */
  static async loadOrCreate(db: Db, kind: CaKind, clock: Clock = systemClock, opts: CaOptions = {}): Promise<CertificateAuthority> {
    const select = 'SELECT cert_pem, key_pem FROM cas WHERE kind = $1';
    type Row = { cert_pem: string; key_pem: string };
    let row = await db.get<Row>(select, [kind]);
    if (!row) {
      const fresh = await createSelfSigned(kind, clock);
      await db.run('INSERT INTO cas (kind, cert_pem, key_pem, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind) DO NOTHING', [
        kind,
        toPem(fresh.certDer),
        fresh.key.export({ type: 'pkcs8', format: 'pem' }),
        clock.now(),
      ]);
      row = await db.get<Row>(select, [kind]);
      if (!row) throw new TapgateError('ca_unavailable', `the ${kind} certificate authority could not be stored; check the database`, { status: 500 });
    }
    return CertificateAuthority.fromPem(kind, row.cert_pem, row.key_pem, clock, opts);
  }

  /** A CA that lives only in this process (the local proxy's, and tests'). */
  static async createInMemory(kind: CaKind | 'local', clock: Clock = systemClock, opts: CaOptions = {}): Promise<CertificateAuthority> {
    const { certDer, key } = await createSelfSigned(kind, clock);
    return new CertificateAuthority(kind, certDer, key, clock, opts);
  }

  private static fromPem(kind: string, certPem: string, keyPem: string, clock: Clock, opts: CaOptions): CertificateAuthority {
    const corrupt = (why: string) =>
      new TapgateError('ca_corrupt', `the stored ${kind} certificate authority is unusable (${why}); restore the cas table from a backup`, {
        status: 500,
        auditReason: `ca ${kind} corrupt: ${why}`,
      });
    let key: KeyObject;
    let x509: X509Certificate;
    try {
      key = createPrivateKey(keyPem);
      x509 = new X509Certificate(certPem);
    } catch {
      throw corrupt('certificate or key unreadable');
    }
    if (key.asymmetricKeyType !== 'ec') throw corrupt(`key type ${key.asymmetricKeyType}, expected ec`);
    if (!x509.checkPrivateKey(key)) throw corrupt('key does not match certificate');
    return new CertificateAuthority(kind, x509.raw, key, clock, opts);
  }

  /**
   * A client certificate (or a host certificate, for usage 'host') carrying `identity`, for
   * `publicKeyPem`, or for `publicKey` when the caller has read it already (readPublicKey).
   */
  async issue(
    opts: ({ publicKeyPem: string } | { publicKey: CertifiableKey }) & {
      identity: Identity;
      ttlMs: number;
      commonName?: string;
      notBefore?: number;
    },
  ): Promise<IssuedCert> {
    const { identity } = opts;
    let identityExts: Buffer[];
    try {
      identityExts = identityExtensions(identity);
    } catch (e) {
      if (e instanceof IdentityEncodingError) throw new TapgateError('bad_identity', `cannot issue a certificate: ${e.message}`, { status: 500 });
      throw e;
    }
    const subject: [string, string][] = [[X509_OIDS.commonName, opts.commonName ?? identity.name]];
    for (const role of identity.roles) subject.push([X509_OIDS.organization, role]);
    const host = identity.usage === 'host';
    return this.sign({
      publicKey: 'publicKey' in opts ? opts.publicKey : readPublicKey(opts.publicKeyPem),
      ttlMs: opts.ttlMs,
      notBefore: opts.notBefore,
      subject: name(subject),
      extensions: [host ? EXT.serverAuth : EXT.clientAuth, ...identityExts],
    });
  }

  /** A TLS server certificate for `hosts` (DNS names and IP addresses); makes the key pair when none is given. */
  async issueServerCert(opts: { hosts: string[]; ttlMs: number; publicKeyPem?: string }): Promise<IssuedCert & { keyPem?: string }> {
    const hosts = opts.hosts.filter((h) => h.length > 0);
    if (hosts.length === 0) throw new TapgateError('bad_hosts', 'a server certificate needs at least one host name or IP address', { status: 500 });
    let keyPem: string | undefined;
    let publicKeyPem = opts.publicKeyPem;
    if (!publicKeyPem) {
      const pair = await generateKeyPair();
      publicKeyPem = pair.publicKeyPem;
      keyPem = pair.privateKeyPem;
    }
    const cn = hosts[0]!.length <= 64 ? hosts[0]! : 'tapgate';
    const issued = this.sign({
      publicKey: readPublicKey(publicKeyPem),
      ttlMs: opts.ttlMs,
      subject: name([[X509_OIDS.commonName, cn]]),
      extensions: [EXT.serverAuth, subjectAltName(hosts)],
    });
    return keyPem ? { ...issued, keyPem } : issued;
  }

  private sign(opts: {
    publicKey: CertifiableKey;
    ttlMs: number;
    notBefore?: number;
    subject: Buffer;
    /** beyond basicConstraints, keyUsage and the key identifiers, which every certificate gets */
    extensions: Buffer[];
  }): IssuedCert {
    const { ttlMs } = opts;
    if (!Number.isFinite(ttlMs) || ttlMs < SECOND) {
      throw new TapgateError('bad_ttl', `a certificate lifetime of ${ttlMs} ms cannot be issued; ask for at least one second`);
    }
    const start = opts.notBefore ?? this.clock.now();
    const notBefore = floorToSecond(opts.notBefore ?? start - BACKDATE_MS);
    const notAfter = floorToSecond(start + ttlMs);
    if (notAfter > this.notAfter) {
      throw new TapgateError(
        'ca_expiring',
        `the ${this.kind} certificate authority expires at ${iso(this.notAfter)}, before the certificate asked for would; rotate the CA`,
        { status: 500 },
      );
    }
    const { spki } = opts.publicKey;
    // keyEncipherment only matters for RSA keys in TLS 1.2 RSA key exchange.
    const keyUsage = opts.publicKey.rsa ? EXT.usageSignEncipher : EXT.usageSign;
    const serial = randomSerial();
    const certDer = signCertificate(
      {
        serial,
        issuer: this.subject,
        subject: opts.subject,
        notBefore,
        notAfter,
        spki,
        extensions: [EXT.endEntity, keyUsage, ...opts.extensions, subjectKeyId(keyIdentifier(spki)), this.authorityKeyId],
      },
      this.key,
    );
    // The first use of a certificate follows its issue closely (a renewal, a kube request): remember
    // it now, so that use skips the signature check this CA just made.
    if (this.verified && !opts.extensions.includes(EXT.serverAuth)) {
      const fingerprint = sha256Hex(certDer);
      this.verified.set(fingerprint, this.describe(parseCertificate(certDer), fingerprint));
    }
    return { certPem: toPem(certDer), serial: serial.toString('hex'), notBefore, notAfter };
  }

  /**
   * Checks that `cert` (DER or PEM) was signed by this CA and is valid at `at` (default now), and
   * returns who it speaks for. Synchronous; a verified certificate is remembered by fingerprint, so
   * repeating it costs a hash and a map lookup, and its validity window is checked every time.
   */
  parseAndVerify(cert: Buffer | string, opts: { at?: number; allowExpired?: boolean } = {}): VerifiedCert {
    let certDer: Buffer;
    try {
      certDer = certificateDer(cert);
    } catch {
      throw this.untrusted('it is not a certificate');
    }
    const fingerprint = sha256Hex(certDer);
    let v = this.verified?.get(fingerprint);
    if (!v) {
      v = this.verifyCold(certDer, fingerprint);
      this.verified?.set(fingerprint, v);
    }
    const at = opts.at ?? this.clock.now();
    const lapse = LAPSE[v.identity.usage];
    if (at < v.notBefore) {
      throw new TapgateError(
        'cert_not_yet_valid',
        `${lapse.what} is not valid until ${iso(v.notBefore)}; check that this machine's clock is right`,
        { status: 401, auditReason: `certificate ${v.serial} not yet valid` },
      );
    }
    if (at > v.notAfter && !opts.allowExpired) {
      throw new TapgateError('cert_expired', `${lapse.what} expired at ${iso(v.notAfter)}; ${lapse.next}`, {
        status: 401,
        auditReason: `certificate ${v.serial} (${v.identity.usage} ${v.identity.name}) expired`,
      });
    }
    return v;
  }

  private verifyCold(certDer: Buffer, fingerprint: string): VerifiedCert {
    let parsed: ParsedCertificate;
    try {
      parsed = parseCertificate(certDer);
    } catch (e) {
      if (e instanceof DerError) throw this.untrusted('it could not be read');
      throw e;
    }
    if (!parsed.issuer.equals(this.subject)) throw this.untrusted('it was issued by a different certificate authority');
    if (!parsed.signatureAlgorithm.equals(ECDSA_SHA256)) throw this.untrusted('its signature algorithm is not ecdsa-with-SHA256');
    let ok = false;
    try {
      ok = verify('sha256', parsed.tbs, this.publicKey, parsed.signature);
    } catch {
      ok = false;
    }
    if (!ok) throw this.untrusted('its signature does not match this certificate authority');
    return this.describe(parsed, fingerprint);
  }

  /** Who a certificate whose signature is known to be good speaks for. */
  private describe(parsed: ParsedCertificate, fingerprint: string): VerifiedCert {
    let identity: Identity | undefined;
    try {
      identity = readIdentity(parsed.extensions);
    } catch (e) {
      if (e instanceof IdentityEncodingError || e instanceof DerError) throw this.untrusted(`its identity is malformed: ${e.message}`);
      throw e;
    }
    if (!identity) throw this.untrusted('it carries no Tapgate identity');
    return deepFreeze({
      identity,
      serial: parsed.serialHex,
      notBefore: parsed.notBefore,
      notAfter: parsed.notAfter,
      fingerprint,
      publicKeyFingerprint: sha256Hex(parsed.spki),
    });
  }

  private untrusted(why: string): TapgateError {
    const next = UNTRUSTED_NEXT[this.kind] ?? 'get a new certificate from this gate';
    return new TapgateError('cert_untrusted', `the certificate presented is not trusted: ${why}; ${next}`, {
      status: 401,
      auditReason: `certificate untrusted by ${this.kind} CA: ${why}`,
    });
  }
}

/** A self-signed CA certificate valid for ten years; the CN carries a short random id to tell CAs apart. */
async function createSelfSigned(kind: string, clock: Clock): Promise<{ certDer: Buffer; key: KeyObject }> {
  const { privateKeyPem } = await generateKeyPair();
  const key = createPrivateKey(privateKeyPem);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const keyId = keyIdentifier(spki);
  const subject = name([
    [X509_OIDS.organization, 'Tapgate'],
    [X509_OIDS.commonName, `Tapgate ${kind} CA ${randomBytes(4).toString('hex')}`],
  ]);
  const now = clock.now();
  const serial = randomSerial();
  const certDer = signCertificate(
    {
      serial,
      issuer: subject,
      subject,
      notBefore: floorToSecond(now - BACKDATE_MS),
      notAfter: floorToSecond(now + CA_LIFETIME_MS),
      spki,
      extensions: [EXT.caPathLen0, EXT.usageCa, subjectKeyId(keyId)],
    },
    key,
  );
  return { certDer, key };
}
