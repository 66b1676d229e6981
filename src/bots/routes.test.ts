import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validate } from '../server/validate';
import { readRenewBody, renewBody } from './routes';

const signed = { publicKey: 'PUB', cert: 'CERT', proof: 'c2ln', at: 1_780_000_000_000 };

/** What the zod schema answers: the accepted value, or the refusal's message. */
const viaZod = (input: unknown) => {
  try {
    return validate(renewBody, input);
  } catch (e) {
    return (e as Error).message;
  }
};
const viaRead = (input: unknown) => {
  try {
    return readRenewBody(input);
  } catch (e) {
    return (e as Error).message;
  }
};

describe('readRenewBody', () => {
  const cases: [string, unknown][] = [
    ['mutual TLS', { publicKey: 'PUB' }],
    ['signed', signed],
    ['with a ttl', { ...signed, ttl: '1h' }],
    ['a bad ttl', { ...signed, ttl: 'soon' }],
    ['an unknown field', { ...signed, caFingerprint: 'x' }],
    ['cert without proof', { publicKey: 'PUB', cert: 'CERT' }],
    ['at as text', { ...signed, at: '1780000000000' }],
    ['at not an integer', { ...signed, at: 1.5 }],
    ['at negative', { ...signed, at: -1 }],
    ['at beyond a Date', { ...signed, at: 9e15 }],
    ['an empty publicKey', { ...signed, publicKey: '' }],
    ['a publicKey too long', { publicKey: 'x'.repeat(8_001) }],
    ['a publicKey at the limit', { publicKey: 'x'.repeat(8_000) }],
    ['a cert too long', { ...signed, cert: 'x'.repeat(16_001) }],
    ['a proof too long', { ...signed, proof: 'x'.repeat(2_001) }],
    ['an empty proof', { ...signed, proof: '' }],
    ['publicKey a number', { publicKey: 5 }],
    ['an array', [signed]],
    ['null', null],
    ['nothing', undefined],
    ['an inherited field', Object.create({ publicKey: 'PUB' })],
  ];
  for (const [what, input] of cases) {
    it(`accepts or refuses as the zod schema does: ${what}`, () => assert.deepEqual(viaRead(input), viaZod(input)));
  }
});
