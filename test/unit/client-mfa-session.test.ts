import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PendingTap } from '../../src/client/agent-types';
import { HoldError, MfaSession, type MfaIssuer } from '../../src/client/mfa-session';
import type { TapPromptCloseReason } from '../../src/client/tap-prompt';
import { ManualClock } from '../../src/core/clock';
import { TapgateError } from '../../src/core/errors';

/** An issuer whose outcome each test scripts: approve, fail with a gate error, or never answer. */
function fakeIssuer() {
  const created: { clusters: string[]; ttlMs?: number }[] = [];
  const cancelled: string[] = [];
  let answer: (id: string) => Promise<{ certPem: string; notAfter: number; ttlMs: number; cappedBy: string }> = () => new Promise(() => {});
  let createError: Error | undefined;
  const issuer: MfaIssuer = {
    async createMfaRequest(r) {
      if (createError) throw createError;
      created.push({ clusters: r.clusters, ttlMs: r.ttlMs });
      return { id: `r${created.length}`, tapUrl: `https://gate/tap/r${created.length}`, expiresAt: 0 };
    },
    waitMfaRequest(id, o) {
      return new Promise((resolve, reject) => {
        o?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
        answer(id).then(resolve, reject);
      });
    },
    async cancelMfaRequest(id) {
      cancelled.push(id);
    },
  };
  return {
    issuer,
    created,
    cancelled,
    answerWith(fn: typeof answer) {
      answer = fn;
    },
    failCreate(e: Error | undefined) {
      createError = e;
    },
  };
}

function session(f: ReturnType<typeof fakeIssuer>, o: { holdTimeoutMs?: number; clock?: ManualClock } = {}) {
  const shown: PendingTap[] = [];
  const closed: TapPromptCloseReason[] = [];
  const events: string[] = [];
  const clock = o.clock ?? new ManualClock(Date.now());
  const s = new MfaSession({
    issuer: f.issuer,
    prompt: { show: (p) => shown.push(p), close: (r) => closed.push(r) },
    clusters: ['dev', 'prod'],
    holdTimeoutMs: o.holdTimeoutMs ?? 5000,
    clock,
    keygen: async () => ({ publicKeyPem: 'PUB', privateKeyPem: 'KEY' }),
    onEvent: (kind) => events.push(kind),
  });
  return { s, shown, closed, events, clock };
}

const grant = (clock: ManualClock, ttlMs = 60_000) => async () => ({ certPem: 'CERT', notAfter: clock.now() + ttlMs, ttlMs, cappedBy: 'interval' });

describe('MFA session: hold and tap', () => {
  test('concurrent holds share one MFA request for every opened cluster; the key stays in memory', async () => {
    const f = fakeIssuer();
    const { s, closed, clock } = session(f);
    f.answerWith(grant(clock));
    const [a, b] = await Promise.all([s.acquire(undefined, 'dev'), s.acquire(undefined, 'prod')]);
    assert.equal(a, b);
    assert.equal(f.created.length, 1);
    assert.deepEqual(f.created[0]!.clusters, ['dev', 'prod']);
    assert.equal(f.created[0]!.ttlMs, 24 * 3_600_000, 'asks for a lot; the gate caps it');
    assert.equal(a.keyPem, 'KEY');
    assert.deepEqual(closed, ['verified']);
    assert.equal(s.current('dev'), a);
  });

  test('--ttl is what is asked for', async () => {
    const f = fakeIssuer();
    const clock = new ManualClock(Date.now());
    const s = new MfaSession({ issuer: f.issuer, prompt: { show() {}, close() {} }, clusters: ['dev'], ttlMs: 600_000, holdTimeoutMs: 1000, clock, keygen: async () => ({ publicKeyPem: 'P', privateKeyPem: 'K' }) });
    f.answerWith(grant(clock));
    await s.acquire();
    assert.equal(f.created[0]!.ttlMs, 600_000);
  });

  test('a certificate is treated as lapsed a second before notAfter', async () => {
    const f = fakeIssuer();
    const { s, clock } = session(f);
    f.answerWith(grant(clock, 10_000));
    await s.acquire();
    clock.advance(8_500);
    assert.ok(s.current());
    clock.advance(600);
    assert.equal(s.current(), undefined);
  });

  test('a cluster outside the certificate asks for a new tap covering it too', async () => {
    const f = fakeIssuer();
    const { s, clock } = session(f);
    f.answerWith(grant(clock));
    await s.acquire();
    await s.acquire(undefined, 'staging');
    assert.deepEqual(f.created[1]!.clusters, ['dev', 'prod', 'staging']);
  });

  test('cancel answers held requests at once and cancels the MFA request', async () => {
    const f = fakeIssuer();
    const { s, closed, events } = session(f);
    const held = s.acquire();
    await new Promise((r) => setImmediate(r));
    await s.cancel();
    await assert.rejects(held, (e: unknown) => e instanceof HoldError && e.failure === 'cancelled' && e.reason === 'MFARequired');
    assert.deepEqual(f.cancelled, ['r1']);
    assert.deepEqual(closed, ['cancelled']);
    assert.ok(events.includes('tap-cancelled'));
  });

  test('the hold timeout gives a Timeout naming the cluster and the tap link', async () => {
    const f = fakeIssuer();
    const { s, closed } = session(f, { holdTimeoutMs: 50 });
    await assert.rejects(s.acquire(undefined, 'prod'), (e: unknown) => {
      assert.ok(e instanceof HoldError);
      assert.equal(e.status, 504);
      assert.equal(e.reason, 'Timeout');
      assert.match(e.message, /waiting for a security-key tap for cluster prod; tap at https:\/\/gate\/tap\/r1 or run `tapgate kube verify`/);
      return true;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(f.cancelled, ['r1']);
    assert.deepEqual(closed, ['timeout']);
  });

  test('a request denied on the tap page fails held requests as cancelled', async () => {
    const f = fakeIssuer();
    const { s } = session(f);
    f.answerWith(async () => {
      throw new TapgateError('mfa_denied', 'the tap request was denied on the tap page', { status: 409 });
    });
    await assert.rejects(s.acquire(), (e: unknown) => e instanceof HoldError && e.failure === 'cancelled' && /denied on the tap page/.test(e.message));
    assert.equal(s.error, undefined);
  });

  test('a tap page that expired on the gate is asked for again while requests wait', async () => {
    const f = fakeIssuer();
    const { s, clock, shown } = session(f);
    f.answerWith(async (id) => {
      if (id === 'r1') throw new TapgateError('mfa_expired', 'the tap request expired before anyone tapped', { status: 409 });
      return grant(clock)();
    });
    await s.acquire();
    assert.equal(f.created.length, 2);
    assert.deepEqual(
      shown.map((p) => p.id),
      ['r1', 'r2'],
    );
  });

  test('an ended login fails held requests with a message to run tapgate login', async () => {
    const f = fakeIssuer();
    const { s, events } = session(f);
    f.failCreate(new TapgateError('login_expired', 'your login session ended', { status: 401 }));
    await assert.rejects(s.acquire(), (e: unknown) => e instanceof HoldError && e.failure === 'login' && e.status === 401 && /run `tapgate login`/.test(e.message));
    assert.ok(events.includes('login-expired'));
  });

  test('a gate that cannot be reached is an error the status shows', async () => {
    const f = fakeIssuer();
    const { s, events } = session(f);
    f.failCreate(new TapgateError('gate_unreachable', 'cannot reach the gate at https://gate (ECONNREFUSED)', { status: 503 }));
    await assert.rejects(s.acquire(), (e: unknown) => e instanceof HoldError && e.failure === 'failed' && e.status === 503);
    assert.match(s.error!, /could not ask for a security-key tap: cannot reach the gate/);
    assert.ok(events.includes('error'));
  });

  test('a client that goes away stops waiting without ending the tap for others', async () => {
    const f = fakeIssuer();
    const { s } = session(f);
    const ac = new AbortController();
    const gone = s.acquire(undefined, undefined, ac.signal);
    const stays = s.acquire();
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await assert.rejects(gone, /the client closed the request/);
    assert.ok(s.waiting, 'the tap is still asked for the other request');
    await s.cancel();
    await assert.rejects(stays);
  });

  test('verify now asks for a tap even while verified; forget drops the certificate', async () => {
    const f = fakeIssuer();
    const { s, clock, events } = session(f);
    f.answerWith(grant(clock));
    await s.acquire();
    await s.verifyNow();
    assert.equal(f.created.length, 2);
    s.forget();
    assert.equal(s.current(), undefined);
    assert.ok(events.includes('forgotten'));
  });
});
