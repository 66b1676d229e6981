import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as der from './der';
import type { Identity } from './identity';
import { identityExtensions, IdentityEncodingError, oidKey, readIdentity, type RawExtension } from './identity-extensions';
import { IDENTITY_OIDS } from './oids';

const identity: Identity = {
  usage: 'bot',
  kind: 'bot',
  name: 'ci',
  roles: ['deployer'],
  kubeUsers: [],
  kubeGroups: ['ci'],
  clusters: ['prod'],
  botInstance: 'b1',
  generation: 0,
  renewable: true,
};

/** The extensions as parseCertificate would hand them over. */
function raw(exts: Buffer[]): RawExtension[] {
  return exts.map((e) => {
    const seq = der.read(e, 0);
    const [o, v] = der.children(e, seq);
    return { oidKey: e.toString('latin1', o!.start, o!.end), critical: false, value: e.subarray(v!.start, v!.end) };
  });
}

test('round-trips, ignoring extensions outside the identity arc', () => {
  const exts = raw(identityExtensions(identity));
  exts.push({ oidKey: oidKey('1.3.6.1.4.1.99999.1'), critical: false, value: Buffer.from([0x05, 0x00]) });
  assert.deepEqual(readIdentity(exts), identity);
});

test('no identity extensions means no identity', () => {
  assert.equal(readIdentity([]), undefined);
});

test('malformed or duplicated values are refused, not guessed at', () => {
  const base = raw(identityExtensions(identity));
  const key = (field: keyof typeof IDENTITY_OIDS) => oidKey(IDENTITY_OIDS[field]);
  const replaced = (field: keyof typeof IDENTITY_OIDS, value: Buffer): RawExtension[] => [
    ...base.filter((e) => e.oidKey !== key(field)),
    { oidKey: key(field), critical: false, value },
  ];
  assert.throws(() => readIdentity([...base, ...base.slice(0, 1)]), /appears twice/);
  assert.throws(() => readIdentity(replaced('generation', der.utf8('-1'))), IdentityEncodingError);
  assert.throws(() => readIdentity(replaced('generation', der.utf8('1e9'))), IdentityEncodingError);
  assert.throws(() => readIdentity(replaced('renewable', der.utf8('yes'))), IdentityEncodingError);
  assert.throws(() => readIdentity(replaced('roles', der.utf8('{"a":1}'))), IdentityEncodingError);
  assert.throws(() => readIdentity(replaced('kind', der.utf8('admin'))), IdentityEncodingError);
  assert.throws(() => readIdentity(replaced('name', Buffer.from([0x0c, 0x05, 0x61]))), der.DerError);
  assert.throws(() => readIdentity(base.filter((e) => e.oidKey !== key('usage'))), IdentityEncodingError);
});

test('refuses to encode what would not read back', () => {
  assert.throws(() => identityExtensions({ ...identity, name: '' }), IdentityEncodingError);
  assert.throws(() => identityExtensions({ ...identity, generation: 1.5 }), IdentityEncodingError);
  assert.throws(() => identityExtensions({ ...identity, usage: 'root' as never }), IdentityEncodingError);
});
