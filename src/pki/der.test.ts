import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as der from './der';

test('times use UTCTime through 2049 and GeneralizedTime from 2050, and read back', () => {
  for (const [ms, tag] of [
    [Date.UTC(2026, 0, 1, 0, 15), der.TAG.UTC_TIME],
    [Date.UTC(2049, 11, 31, 23, 59, 59), der.TAG.UTC_TIME],
    [Date.UTC(2050, 0, 1), der.TAG.GENERALIZED_TIME],
    [Date.UTC(1999, 5, 1), der.TAG.UTC_TIME],
  ] as const) {
    const enc = der.time(ms);
    const t = der.read(enc, 0);
    assert.equal(t.tag, tag);
    assert.equal(der.readTime(enc, t), ms);
  }
});

test('OIDs round-trip, including multi-byte arcs', () => {
  for (const o of ['1.2.840.10045.4.3.2', '2.5.29.37', '1.3.6.1.4.1.58793.1.14', '2.999.3']) {
    const enc = der.oid(o);
    const t = der.read(enc, 0);
    assert.equal(der.oidToString(enc, t.start, t.end), o);
  }
  assert.equal(der.oid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
});

test('integers are minimal and positive', () => {
  assert.equal(der.uintBytes(Buffer.from([0, 0, 0x7f])).toString('hex'), '02017f');
  assert.equal(der.uintBytes(Buffer.from([0x80])).toString('hex'), '02020080');
  assert.equal(der.smallInt(2).toString('hex'), '020102');
  assert.equal(der.smallInt(128).toString('hex'), '02020080');
});

test('lengths: long form encodes and reads; indefinite, non-minimal and overrunning lengths are refused', () => {
  for (const n of [0, 127, 128, 255, 256, 70_000]) {
    const enc = der.octets(Buffer.alloc(n, 1));
    const t = der.read(enc, 0);
    assert.equal(t.end - t.start, n);
    assert.equal(t.end, enc.length);
  }
  assert.throws(() => der.read(Buffer.from([0x30, 0x80, 0, 0]), 0), der.DerError);
  assert.throws(() => der.read(Buffer.from([0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), 0), der.DerError);
  assert.throws(() => der.read(Buffer.from([0x04, 0x05, 1, 2]), 0), der.DerError);
  assert.throws(() => der.read(Buffer.from([0x1f, 0x01, 0]), 0), der.DerError);
});

test('key usage bits drop trailing zeros', () => {
  assert.equal(der.namedBits([0]).toString('hex'), '03020780'); // digitalSignature
  assert.equal(der.namedBits([0, 5, 6]).toString('hex'), '03020186'); // + keyCertSign, cRLSign
});
