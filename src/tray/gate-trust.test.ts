import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestPki } from '../../test/helpers/tls';
import { chainsToCa } from './gate-trust';

test("the gate's certificate is trusted when it chains to the CA saved at login", async () => {
  const pki = await makeTestPki();
  assert.equal(chainsToCa(pki.serverCertPem, [], pki.caPem), true);
  assert.equal(chainsToCa(pki.serverCertPem, [pki.caPem], pki.caPem), true);
});

test('another CA, an expired view of time, or no saved CA: not trusted', async () => {
  const pki = await makeTestPki();
  const other = await makeTestPki({ caCN: 'someone-else' });
  assert.equal(chainsToCa(pki.serverCertPem, [], other.caPem), false);
  assert.equal(chainsToCa(other.serverCertPem, [pki.caPem], pki.caPem), false, 'a chain that merely mentions our CA');
  assert.equal(chainsToCa(pki.serverCertPem, [], pki.caPem, Date.now() + 2 * 365 * 24 * 3600_000), false);
  assert.equal(chainsToCa(pki.serverCertPem, [], ''), false);
  assert.equal(chainsToCa('garbage', [], pki.caPem), false);
});
