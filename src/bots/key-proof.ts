import { createHash, createPublicKey, sign, verify, X509Certificate, type KeyLike, type KeyObject } from 'node:crypto';
import { publicKeyFingerprint } from '../pki/ca';
import { certificateDer, parseCertificate } from '../pki/certificate';

/**
 * Proofs, carried in a request body, that a bot holds the private key of a certificate: a
 * signature with that key over a message whose first line names what it is for, so a proof made
 * for one purpose never verifies for another (nor as a TLS handshake signature). Each message also
 * binds what a replay could abuse: the new public key (a replay certifies only a key the replayer
 * lacks) or the time. See docs/decisions/0004 (re-join) and 0006 (renewal, heartbeat).
 */

const LABELS = {
  rejoin: 'tapgate-bot-rejoin-v1',
  renew: 'tapgate-bot-renew-v1',
  heartbeat: 'tapgate-bot-heartbeat-v1',
} as const;

/** A renewal or heartbeat proof is accepted this long either side of the gate's clock. */
export const PROOF_WINDOW_MS = 5 * 60_000;

const sha256Hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function message(purpose: keyof typeof LABELS, fields: (string | number)[]): Buffer {
  return Buffer.from([LABELS[purpose], ...fields].join('\n'), 'utf8');
}

function signMessage(key: KeyLike, msg: Buffer): string {
  return sign('sha256', msg, key).toString('base64');
}

function verifyMessage(key: KeyObject, msg: Buffer, proof: string): boolean {
  try {
    return verify('sha256', msg, key, Buffer.from(proof, 'base64'));
  } catch {
    return false;
  }
}

/** Pure: whether a proof made at `at` is recent enough (and not from the future) at `now`. */
export function withinProofWindow(at: number, now: number): boolean {
  return Math.abs(now - at) <= PROOF_WINDOW_MS;
}

// ---- re-join (non-renewable tokens) ----

// v1 hashes the new key's PEM text (not its DER); kept so agents already deployed keep re-joining.
const rejoinMessage = (instanceId: string, tokenName: string, newPublicKeyPem: string): Buffer =>
  message('rejoin', [instanceId, tokenName, sha256Hex(newPublicKeyPem.trim())]);

/** base64 signature, made by the bot with its previous private key. */
export function signRejoinProof(previousKey: KeyLike, instanceId: string, tokenName: string, newPublicKeyPem: string): string {
  return signMessage(previousKey, rejoinMessage(instanceId, tokenName, newPublicKeyPem));
}

export function verifyRejoinProof(previousCertPem: string, proof: string, instanceId: string, tokenName: string, newPublicKeyPem: string): boolean {
  let key: KeyObject;
  try {
    key = new X509Certificate(previousCertPem).publicKey;
  } catch {
    return false;
  }
  return verifyMessage(key, rejoinMessage(instanceId, tokenName, newPublicKeyPem), proof);
}

// ---- renewal and heartbeat over a connection without a client certificate ----

/** renew: sha256 of the current certificate's DER, sha256 of the new key's SPKI DER, when (epoch ms). */
const renewMessage = (certFp: string, newKeyFp: string, at: number): Buffer => message('renew', [certFp, newKeyFp, at]);
/** heartbeat: sha256 of the certificate's DER, when (epoch ms). */
const heartbeatMessage = (certFp: string, at: number): Buffer => message('heartbeat', [certFp, at]);

/** The bot's side: a proof that it holds `certPem`'s key and asks for `newPublicKeyPem` to be certified. */
export function signRenewProof(key: KeyLike, certPem: string, newPublicKeyPem: string, at: number): string {
  return signMessage(key, renewMessage(sha256Hex(certificateDer(certPem)), publicKeyFingerprint(newPublicKeyPem), at));
}

/** The gate's side; the fingerprints are those it computed itself (VerifiedCert.fingerprint, publicKeyFingerprint). */
export function verifyRenewProof(certKey: KeyObject, certFp: string, newKeyFp: string, at: number, proof: string): boolean {
  return verifyMessage(certKey, renewMessage(certFp, newKeyFp, at), proof);
}

export function signHeartbeatProof(key: KeyLike, certPem: string, at: number): string {
  return signMessage(key, heartbeatMessage(sha256Hex(certificateDer(certPem)), at));
}

export function verifyHeartbeatProof(certKey: KeyObject, certFp: string, at: number, proof: string): boolean {
  return verifyMessage(certKey, heartbeatMessage(certFp, at), proof);
}

/** SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits, 0x04, X, Y) }: what bot agents generate. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

/**
 * The public key of a certificate the CA already verified, to check a proof with. OpenSSL 3's
 * generic DER decoder costs about twice what importing the same P-256 point as a JWK does, so bot
 * keys take that way; anything else goes through the decoder.
 */
export function certificateKey(certDer: Buffer): KeyObject {
  const { spki } = parseCertificate(certDer);
  if (spki.length === P256_SPKI_PREFIX.length + 65 && spki.subarray(0, P256_SPKI_PREFIX.length).equals(P256_SPKI_PREFIX)) {
    const point = P256_SPKI_PREFIX.length + 1;
    return createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: spki.toString('base64url', point, point + 32), y: spki.toString('base64url', point + 32, point + 64) },
      format: 'jwk',
    });
  }
  return createPublicKey({ key: spki, format: 'der', type: 'spki' });
}
