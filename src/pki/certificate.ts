import { createHash, sign, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import * as der from './der';
import type { RawExtension } from './identity-extensions';
import { X509_OIDS } from './oids';

/**
 * X.509 v3 certificates as bytes: building and signing a TBSCertificate, and reading one back.
 * No policy here; ca.ts decides what goes in and what a reader may trust.
 */

/** AlgorithmIdentifier for ecdsa-with-SHA256: parameters absent (RFC 5758 3.2). */
export const ECDSA_SHA256 = der.seq(der.oid(X509_OIDS.ecdsaWithSha256));

const VERSION_3 = der.explicit(0, der.smallInt(2));

export interface CertificateFields {
  /** the serial's magnitude, big-endian; must encode as a positive INTEGER */
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: number;
  notAfter: number;
  /** SubjectPublicKeyInfo DER */
  spki: Buffer;
  extensions: Buffer[];
}

/** Builds the certificate and signs it with an EC key (ecdsa-with-SHA256). */
export function signCertificate(fields: CertificateFields, key: KeyObject): Buffer {
  const tbs = der.seq(
    VERSION_3,
    der.uintBytes(fields.serial),
    ECDSA_SHA256,
    fields.issuer,
    der.seq(der.time(fields.notBefore), der.time(fields.notAfter)),
    fields.subject,
    fields.spki,
    der.explicit(3, der.constructed(der.TAG.SEQUENCE, fields.extensions)),
  );
  const signature = sign('sha256', tbs, key);
  return der.seq(tbs, ECDSA_SHA256, der.bitString(signature));
}

/** A Name with one attribute per RDN, values as UTF8String. */
export function name(attrs: [oid: string, value: string][]): Buffer {
  return der.constructed(
    der.TAG.SEQUENCE,
    attrs.map(([o, v]) => der.set(der.seq(der.oid(o), der.utf8(v)))),
  );
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical ? der.seq(der.oid(oid), der.bool(true), der.octets(value)) : der.seq(der.oid(oid), der.octets(value));
}

// Extensions every issued certificate shares are encoded once.
export const EXT = {
  endEntity: extension(X509_OIDS.basicConstraints, true, der.seq()),
  caPathLen0: extension(X509_OIDS.basicConstraints, true, der.seq(der.bool(true), der.smallInt(0))),
  /** digitalSignature: what an ECDSA TLS key does */
  usageSign: extension(X509_OIDS.keyUsage, true, der.namedBits([0])),
  /** digitalSignature + keyEncipherment: RSA server keys in TLS 1.2 RSA key exchange */
  usageSignEncipher: extension(X509_OIDS.keyUsage, true, der.namedBits([0, 2])),
  /** digitalSignature + keyCertSign + cRLSign */
  usageCa: extension(X509_OIDS.keyUsage, true, der.namedBits([0, 5, 6])),
  clientAuth: extension(X509_OIDS.extKeyUsage, false, der.seq(der.oid(X509_OIDS.clientAuth))),
  serverAuth: extension(X509_OIDS.extKeyUsage, false, der.seq(der.oid(X509_OIDS.serverAuth))),
};

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: Buffer): Buffer {
  const outer = der.expect(spki, 0, der.TAG.SEQUENCE);
  const [, bits] = der.children(spki, outer);
  if (!bits || bits.tag !== der.TAG.BIT_STRING) throw new der.DerError('bad SubjectPublicKeyInfo');
  return createHash('sha1').update(spki.subarray(bits.start + 1, bits.end)).digest();
}

export const subjectKeyId = (keyId: Buffer): Buffer => extension(X509_OIDS.subjectKeyIdentifier, false, der.octets(keyId));
export const authorityKeyId = (keyId: Buffer): Buffer =>
  extension(X509_OIDS.authorityKeyIdentifier, false, der.seq(der.implicitPrimitive(0, keyId)));

/** subjectAltName with a dNSName or iPAddress per host. */
export function subjectAltName(hosts: string[]): Buffer {
  const names = hosts.map((h) => {
    if (isIPv4(h)) return der.implicitPrimitive(7, Buffer.from(h.split('.').map(Number)));
    if (isIPv6(h)) return der.implicitPrimitive(7, ipv6Bytes(h));
    return der.implicitPrimitive(2, Buffer.from(h, 'ascii'));
  });
  return extension(X509_OIDS.subjectAltName, false, der.constructed(der.TAG.SEQUENCE, names));
}

/** The 16 bytes of an IPv6 address already checked by isIPv6 ("::" and a dotted IPv4 tail allowed). */
function ipv6Bytes(addr: string): Buffer {
  let text = addr;
  const v4 = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(2).map(Number) as [number, number, number, number];
    text = `${v4[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const words = [...left, ...new Array<string>(fill).fill('0'), ...right];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

export function toPem(derBytes: Buffer, label = 'CERTIFICATE'): string {
  const b64 = derBytes.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;

/** DER from DER or from the first CERTIFICATE block of PEM (string or bytes). */
export function certificateDer(input: Buffer | string): Buffer {
  if (typeof input !== 'string') {
    // "-----" starts PEM; a DER certificate starts with 0x30.
    if (input[0] !== 0x2d) return input;
    input = input.toString('latin1');
  }
  const m = PEM_RE.exec(input);
  if (!m) throw new der.DerError('no CERTIFICATE block in PEM');
  return Buffer.from(m[1]!, 'base64');
}

export interface ParsedCertificate {
  /** the exact signed bytes */
  tbs: Buffer;
  signatureAlgorithm: Buffer;
  signature: Buffer;
  serialHex: string;
  issuer: Buffer;
  subject: Buffer;
  notBefore: number;
  notAfter: number;
  spki: Buffer;
  extensions: RawExtension[];
}

/** Reads a DER certificate strictly enough to trust what a signature check then covers. */
export function parseCertificate(buf: Buffer): ParsedCertificate {
  const cert = der.expect(buf, 0, der.TAG.SEQUENCE);
  if (cert.end !== buf.length) throw new der.DerError('trailing bytes after certificate');
  const tbsT = der.expect(buf, cert.start, der.TAG.SEQUENCE, cert.end);
  const algT = der.expect(buf, tbsT.end, der.TAG.SEQUENCE, cert.end);
  const sigT = der.expect(buf, algT.end, der.TAG.BIT_STRING, cert.end);
  if (sigT.end !== cert.end) throw new der.DerError('trailing bytes in certificate');
  if (buf[sigT.start] !== 0) throw new der.DerError('signature has unused bits');

  const parts = der.children(buf, tbsT);
  let i = 0;
  const next = (tag: number): der.Tlv => {
    const t = parts[i++];
    if (!t || t.tag !== tag) throw new der.DerError(`unexpected TBSCertificate field (wanted tag 0x${tag.toString(16)})`);
    return t;
  };
  if (parts[0]?.tag !== 0xa0) throw new der.DerError('not an X.509 v3 certificate');
  const version = der.expect(buf, parts[0].start, der.TAG.INTEGER, parts[0].end);
  if (version.end - version.start !== 1 || buf[version.start] !== 2) throw new der.DerError('not an X.509 v3 certificate');
  i = 1;
  const serialT = next(der.TAG.INTEGER);
  const innerAlg = next(der.TAG.SEQUENCE);
  const issuer = next(der.TAG.SEQUENCE);
  const validity = next(der.TAG.SEQUENCE);
  const subject = next(der.TAG.SEQUENCE);
  const spki = next(der.TAG.SEQUENCE);
  const signatureAlgorithm = buf.subarray(algT.offset, algT.end);
  if (!signatureAlgorithm.equals(buf.subarray(innerAlg.offset, innerAlg.end))) {
    throw new der.DerError('signature algorithm differs inside and outside the signed part');
  }
  const [nb, na, ...extra] = der.children(buf, validity);
  if (!nb || !na || extra.length) throw new der.DerError('bad validity');

  const extensions: RawExtension[] = [];
  for (; i < parts.length; i++) {
    const t = parts[i]!;
    if (t.tag === 0x81 || t.tag === 0x82) continue; // unique identifiers: unused, ignored
    if (t.tag !== 0xa3 || i !== parts.length - 1) throw new der.DerError('unexpected TBSCertificate field');
    const list = der.expect(buf, t.start, der.TAG.SEQUENCE, t.end);
    for (const e of der.children(buf, list)) {
      if (e.tag !== der.TAG.SEQUENCE) throw new der.DerError('bad extension');
      const f = der.children(buf, e);
      const oidT = f[0];
      if (!oidT || oidT.tag !== der.TAG.OID) throw new der.DerError('bad extension');
      let critical = false;
      let valueT = f[1];
      if (valueT?.tag === der.TAG.BOOLEAN) {
        critical = buf[valueT.start] !== 0;
        valueT = f[2];
      }
      if (!valueT || valueT.tag !== der.TAG.OCTET_STRING) throw new der.DerError('bad extension');
      extensions.push({
        oidKey: buf.toString('latin1', oidT.start, oidT.end),
        critical,
        value: buf.subarray(valueT.start, valueT.end),
      });
    }
  }

  let serialStart = serialT.start;
  if (buf[serialStart] === 0 && serialT.end - serialStart > 1) serialStart++;
  return {
    tbs: buf.subarray(tbsT.offset, tbsT.end),
    signatureAlgorithm,
    signature: buf.subarray(sigT.start + 1, sigT.end),
    serialHex: buf.toString('hex', serialStart, serialT.end),
    issuer: buf.subarray(issuer.offset, issuer.end),
    subject: buf.subarray(subject.offset, subject.end),
    notBefore: der.readTime(buf, nb),
    notAfter: der.readTime(buf, na),
    spki: buf.subarray(spki.offset, spki.end),
    extensions,
  };
}
