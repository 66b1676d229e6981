import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapgateError } from '../core/errors';
import { RemoteError, unwrapResult, wrapResult } from './ipc-result';

test('a result crosses the boundary unchanged', async () => {
  const w = await wrapResult(async () => ({ disconnected: true }));
  assert.deepEqual(JSON.parse(JSON.stringify(w)), { result: { disconnected: true } });
  assert.deepEqual(unwrapResult(JSON.parse(JSON.stringify(w))), { disconnected: true });
});

test('a thrown TapgateError comes back as a real Error with its message and code', async () => {
  const w = await wrapResult(() => {
    throw new TapgateError('not_logged_in', 'log in first: tapgate login --server URL');
  });
  const back = JSON.parse(JSON.stringify(w));
  assert.throws(() => unwrapResult(back), (e: unknown) => e instanceof RemoteError && e.message === 'log in first: tapgate login --server URL' && e.code === 'not_logged_in');
});

test('undefined results are still results', async () => {
  assert.equal(unwrapResult(await wrapResult(() => undefined)), undefined);
});

test('garbage answers are errors, not silent undefined', () => {
  assert.throws(() => unwrapResult(null), RemoteError);
  assert.throws(() => unwrapResult({}), /without a result/);
  assert.throws(() => unwrapResult({ error: { message: 42 } }), /unknown error/);
});
