import { createHash, sign, verify, X509Certificate, type KeyLike } from 'node:crypto';

/**
 * Proof that whoever joins again with a non-renewable token holds the previous certificate's
 * private key: a signature with that key over the instance, the token and the new public key.
 * Binding the new key makes a replayed proof worthless (it only certifies a key the replayer
 * lacks), so no server nonce and no extra round trip are needed.
 */

const LABEL = 'tapgate-bot-rejoin-v1';

function message(instanceId: string, tokenName: string, newPublicKeyPem: string): Buffer {
  const keyHash = createHash('sha256').update(newPublicKeyPem.trim()).digest('hex');
  return Buffer.from(`${LABEL}\n${instanceId}\n${tokenName}\n${keyHash}`, 'utf8');
}

/** base64 signature, made by the bot with its previous private key. */
export function signRejoinProof(previousKey: KeyLike, instanceId: string, tokenName: string, newPublicKeyPem: string): string {
  return sign('sha256', message(instanceId, tokenName, newPublicKeyPem), previousKey).toString('base64');
}

export function verifyRejoinProof(previousCertPem: string, proof: string, instanceId: string, tokenName: string, newPublicKeyPem: string): boolean {
  try {
    const key = new X509Certificate(previousCertPem).publicKey;
    return verify('sha256', message(instanceId, tokenName, newPublicKeyPem), key, Buffer.from(proof, 'base64'));
  } catch {
    return false;
  }
}
