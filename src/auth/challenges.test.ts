import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { openDb } from '../store/open';
import { Challenges, CHALLENGE_TTL_MS } from './challenges';

async function setup() {
  const clock = new ManualClock();
  const db = await openDb({ type: 'sqlite', path: ':memory:' });
  return { clock, db, challenges: new Challenges(db, clock) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof TapgateError);
    return e.code;
  }
}

describe('challenges', () => {
  it('are single-use, even when two answers race', async () => {
    const { challenges } = await setup();
    const c = await challenges.issue('login', 'session-1');
    const results = await Promise.all([code(challenges.consume(c.id, 'login', 'session-1')), code(challenges.consume(c.id, 'login', 'session-1'))]);
    assert.deepEqual(results.sort(), ['challenge_replayed', 'ok']);
  });

  it('expire after 60 seconds', async () => {
    const { challenges, clock } = await setup();
    const fresh = await challenges.issue('tap', 'r');
    const old = await challenges.issue('tap', 'r');
    clock.advance(CHALLENGE_TTL_MS - 1);
    assert.equal(await code(challenges.consume(fresh.id, 'tap', 'r')), 'ok');
    clock.advance(1);
    assert.equal(await code(challenges.consume(old.id, 'tap', 'r')), 'challenge_expired');
  });

  it('belong to one ceremony and one subject', async () => {
    const { challenges } = await setup();
    const c = await challenges.issue('register', 'link-a');
    assert.equal(await code(challenges.consume(c.id, 'login', 'link-a')), 'challenge_unknown');
    assert.equal(await code(challenges.consume(c.id, 'register', 'link-b')), 'challenge_mismatch');
    assert.equal(await code(challenges.consume('00000000-0000-0000-0000-000000000000', 'register', 'link-a')), 'challenge_unknown');
  });
});
