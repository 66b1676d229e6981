import assert from 'node:assert/strict';
import { createPublicKey, ECDH, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { onP256, readPublicKey } from './public-key';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
const pem = (spki: Buffer) =>
  `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----\n`;

test('the hand-read P-256 point check agrees with OpenSSL', () => {
  for (let i = 0; i < 50; i++) {
    const spki = p256();
    const point = spki.subarray(spki.length - 65);
    assert.equal(onP256(point.subarray(1)), true);
    const bent = Buffer.from(point);
    bent[1 + (i % 64)]! ^= 1 << (i % 8);
    const openssl = (() => {
      try {
        ECDH.convertKey(bent, 'prime256v1');
        return true;
      } catch {
        return false;
      }
    })();
    assert.equal(onP256(bent.subarray(1)), openssl);
    assert.equal(openssl, false);
  }
  assert.equal(onP256(Buffer.alloc(64, 0xff)), false, 'coordinates beyond the field');
});

test('a P-256 key is certified byte for byte as OpenSSL would export it', () => {
  const spki = p256();
  const read = readPublicKey(pem(spki));
  assert.deepEqual(read.spki, spki);
  assert.deepEqual(createPublicKey(pem(spki)).export({ type: 'spki', format: 'der' }), spki);
  assert.equal(read.rsa, false);
});

test('an off-curve P-256 key is refused', () => {
  const spki = Buffer.from(p256());
  spki[spki.length - 1]! ^= 1;
  assert.throws(() => readPublicKey(pem(spki)), { code: 'bad_public_key' });
});

test('other curves and key types go through OpenSSL', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  assert.equal(readPublicKey(p384).spki.length, 120);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  assert.equal(readPublicKey(rsa).rsa, true);
});
