import { createPublicKey, type KeyObject } from 'node:crypto';
import { TapgateError } from '../core/errors';

/**
 * Reading the public key a client asks to have certified. OpenSSL 3's generic key decoder costs
 * ~200 µs per PEM (five ECDSA signatures' worth), so the common case, an uncompressed P-256 key
 * as tapgate generates it, is read by hand: fixed SPKI prefix, then the point is checked to be on
 * the curve (SEC 1 3.2.2.1; ECDH.convertKey would cost ~20 µs). Anything else goes through
 * createPublicKey.
 */

export interface CertifiableKey {
  /** SubjectPublicKeyInfo DER, as it goes into the certificate */
  spki: Buffer;
  /** RSA keys also get keyEncipherment */
  rsa: boolean;
}

/** SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes: 0 unused, 0x04, X, Y) } */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 65;

// One greedy class that stops at the closing dashes: linear on hostile input.
const PUBLIC_KEY_PEM = /^\s*-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*$/;

function refuse(message: string, auditReason: string): TapgateError {
  return new TapgateError('bad_public_key', message, { auditReason });
}

const unreadable = () =>
  refuse('the public key sent is not a PEM public key; update the tapgate client and try again', 'public key unreadable');

export function readPublicKey(pem: string): CertifiableKey {
  const m = typeof pem === 'string' ? PUBLIC_KEY_PEM.exec(pem) : null;
  if (m) {
    const spki = Buffer.from(m[1]!, 'base64');
    if (spki.length === P256_SPKI_LENGTH && spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) {
      if (!onP256(spki.subarray(P256_SPKI_PREFIX.length + 1))) throw unreadable();
      return { spki, rsa: false };
    }
  }
  return readOtherKey(pem);
}

// P-256 (FIPS 186-4 D.1.2.3): y^2 = x^3 - 3x + b over GF(p); the cofactor is 1, so a point on the
// curve is in the signing group.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/** Whether the 64 bytes X||Y are a point on P-256 (not the point at infinity, which has no affine form). */
export function onP256(xy: Buffer): boolean {
  if (xy.length !== 64) return false;
  const x = BigInt('0x' + xy.toString('hex', 0, 32));
  const y = BigInt('0x' + xy.toString('hex', 32, 64));
  if (x >= P || y >= P) return false;
  const rhs = (((x * x) % P) * x - 3n * x + B) % P;
  return (y * y - rhs) % P === 0n;
}

function readOtherKey(pem: string): CertifiableKey {
  if (typeof pem === 'string' && pem.includes('PRIVATE KEY')) {
    throw refuse('a private key was sent where the public key belongs; never send the private key — update the tapgate client', 'private key sent');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw unreadable();
  }
  if (key.type !== 'public') throw unreadable();
  const type = key.asymmetricKeyType;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (type === 'ec' || type === 'ed25519' || (type === 'rsa' && bits >= 2048)) {
    return { spki: key.export({ type: 'spki', format: 'der' }), rsa: type === 'rsa' };
  }
  throw refuse(
    `a ${type}${bits ? `-${bits}` : ''} public key cannot be certified; use ECDSA P-256 (what tapgate generates), Ed25519 or RSA of at least 2048 bits`,
    `public key type ${type} refused`,
  );
}
