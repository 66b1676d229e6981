/**
 * Two gate replicas, each in its own process, on one PostgreSQL database behave as one gate:
 * single-use tokens, generation counters and locks hold across them, a SIGKILLed replica loses
 * no acknowledged audit record, and a restart of both keeps all state.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/audit';
import { RoleRepo } from '../../src/auth/roles';
import { UserRepo } from '../../src/auth/users';
import { BotAdmin } from '../../src/bots/admin';
import { systemClock } from '../../src/core/clock';
import type { Db } from '../../src/store/db';
import { openDb } from '../../src/store/open';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index';
import { tryStartTestPostgres, type TestPostgres } from '../helpers/postgres';
import { BotClient, newBotKey, Replica, type BotCreds as Creds, type BotKey } from '../helpers/replica';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pgServer = await tryStartTestPostgres();

describe('two gate replicas on one PostgreSQL database', { skip: 'skip' in pgServer ? pgServer.skip : undefined }, () => {
  const pgs = pgServer as TestPostgres;
  const tmp = mkdtempSync(joinPath(tmpdir(), 'tapgate-replicas-'));
  let fake: FakeApiServer;
  let config: Record<string, unknown>;
  let a: Replica;
  let b: Replica;
  let db: Db;
  let admin: BotAdmin;
  const bots = new BotClient();
  const joinVia = (r: Replica, token: string, key: BotKey) => bots.join(r, token, key);
  const renew = (r: Replica, creds: { certPem: string }, key: BotKey) => bots.renew(r, creds, key);
  const caOf = async (r: Replica) => (await bots.call(r, 'GET', '/v1/ca')).body;

  const auditRows = async (event: string) =>
    (await db.all<{ outcome: string; data: string }>('SELECT outcome, data FROM audit WHERE event = $1', [event])).map((r) => ({ outcome: r.outcome, data: JSON.parse(r.data) as Record<string, unknown> }));

  before(async () => {
    fake = await startFakeApiServer();
    const kubeconfig = await fake.writeKubeconfig(joinPath(tmp, 'kubeconfig'));
    config = {
      data_dir: joinPath(tmp, 'data'),
      listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' },
      storage: { type: 'postgres', url: pgs.url },
      clusters: [{ name: 'dev', kubeconfig }],
      log_level: 'silent',
    };
    // Both at once: they migrate a fresh database and create the CAs concurrently.
    [a, b] = await Promise.all([Replica.start(config), Replica.start(config)]);
    db = await openDb({ type: 'postgres', url: pgs.url });
    admin = new BotAdmin({ db, roles: new RoleRepo(db), audit: new AuditLog(db), clock: systemClock });
    await admin.addBot('ci', ['access']);
  });

  after(async () => {
    await Promise.allSettled([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
    await bots.close();
    await db?.close();
    await fake?.close();
    await pgs.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('100 simultaneous joins on one single-use token over both replicas: exactly one succeeds', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    // 100 different bots (keys): the same key joining again is a retry, answered with its instance.
    const keys = Array.from({ length: 100 }, () => newBotKey());
    const answers = await Promise.all(keys.map((key, i) => joinVia(i % 2 ? b : a, text, key)));
    const ok = answers.filter((x) => x.status === 200);
    assert.equal(ok.length, 1, `statuses: ${JSON.stringify(answers.map((x) => x.status))}`);
    for (const x of answers.filter((y) => y.status !== 200)) assert.ok(x.status >= 400 && x.status < 500, `a loser is refused, not failed: ${x.status} ${JSON.stringify(x.body)}`);
    assert.deepEqual(await db.get('SELECT uses FROM join_tokens WHERE name = $1', [token.name]), { uses: 1 });
    assert.deepEqual(await db.get('SELECT COUNT(*) AS n FROM bot_instances WHERE token_name = $1', [token.name]), { n: 1 });
  });

  test('renewals racing on one instance across replicas never issue a generation twice', async (t) => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const key = newBotKey();
    const joined = await joinVia(a, text, key);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    let creds = joined.body as unknown as Creds;
    assert.equal(creds.generation, 1);
    for (const expected of [2, 3, 4]) {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => renew(i % 2 ? b : a, creds, key)));
      const ok = answers.filter((x) => x.status === 200).map((x) => x.body as unknown as Creds);
      assert.ok(ok.length >= 1, `some renewal succeeds: ${JSON.stringify(answers.map((x) => [x.status, x.body.code]))}`);
      assert.deepEqual([...new Set(ok.map((c) => c.generation))], [expected], 'every answer is the one pending generation');
      assert.equal(new Set(ok.map((c) => c.certPem)).size, 1, 'retries get the same pending certificate');
      for (const x of answers.filter((y) => y.status !== 200)) assert.notEqual(x.body.code, 'generation_theft', 'a race is not theft');
      t.diagnostic(`generation ${expected}: ${ok.length} of 20 answered, others: ${JSON.stringify(answers.filter((y) => y.status !== 200).map((y) => y.body.code))}`);
      creds = ok[0]!;
    }
    const issued = (await auditRows('bot.renew'))
      .filter((r) => r.outcome === 'ok' && r.data.instance === creds.instanceId && !r.data.retry)
      .map((r) => r.data.issued);
    assert.deepEqual(issued.sort(), [2, 3, 4], 'each generation issued once');
    assert.equal(await db.get("SELECT id FROM locks WHERE target_kind = 'bot_instance' AND target = $1", [creds.instanceId]), undefined);
  });

  test('a lock made through replica A ends a watch held on replica B within a second', async (t) => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const key = newBotKey();
    const joined = await joinVia(a, text, key);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    const creds = joined.body as unknown as Creds;
    const url = new URL(`${b.kubeUrl}/k/dev/api/v1/namespaces/default/pods?watch=true`);
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      https.get(url, { ca: b.caPem, cert: creds.certPem, key: key.privateKey, agent: false }, resolve).on('error', reject);
    });
    let body = '';
    res.setEncoding('utf8').on('data', (c: string) => (body += c));
    assert.equal(res.statusCode, 200, `the watch opens (${res.statusCode})`);
    const ended = new Promise<number>((resolve) => {
      const done = () => resolve(Date.now());
      res.once('end', done).once('close', done).once('error', done);
    });
    await sleep(100);
    assert.equal(res.complete, false, 'the watch is still open before the lock');
    const t0 = Date.now();
    await a.lock({ targetKind: 'bot_instance', target: creds.instanceId, message: 'replica test' });
    const took = (await Promise.race([ended, sleep(3_000).then(() => Infinity)])) - t0;
    t.diagnostic(`the stream on B ended ${took} ms after the lock on A`);
    assert.ok(took < 1_000, `the stream on B ended ${took} ms after the lock on A`);
  });

  test('a lock with a TTL made on replica A refuses on B, and stops applying on both once it expires', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const key = newBotKey();
    const joined = await joinVia(a, text, key);
    assert.equal(joined.status, 200, JSON.stringify(joined.body));
    const creds = joined.body as unknown as Creds;
    const lock = (await a.lock({ targetKind: 'bot_instance', target: creds.instanceId, ttlMs: 3_000, message: 'brief' })) as { expiresAt: number };
    await sleep(300); // B hears of it within a second (see the watch test); do not race that here
    for (const r of [b, a]) {
      const refused = await renew(r, creds, key);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'locked');
    }
    await sleep(lock.expiresAt - Date.now() + 100);
    const renewedOnB = await renew(b, creds, key);
    assert.equal(renewedOnB.status, 200, JSON.stringify(renewedOnB.body));
    const renewedOnA = await renew(a, renewedOnB.body as unknown as Creds, key);
    assert.equal(renewedOnA.status, 200, JSON.stringify(renewedOnA.body));
  });

  test('a replica killed with SIGKILL mid-traffic: the other keeps serving and no acknowledged audit record is lost', async (t) => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 10_000, ttlMs: 3_600_000, renewable: true });
    const acked: { instanceId: string; via: 'a' | 'b'; at: number }[] = [];
    const failedOnA: string[] = [];
    let killedAt = Infinity;
    let deadline = Date.now() + 30_000; // moved up once B is dead
    const worker = async (w: number) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const via = (i + w) % 2 ? 'b' : 'a';
        try {
          const x = await joinVia(via === 'a' ? a : b, text, newBotKey());
          if (x.status === 200) acked.push({ instanceId: (x.body as unknown as Creds).instanceId, via, at: Date.now() });
          else if (via === 'a') failedOnA.push(`${x.status} ${JSON.stringify(x.body)}`);
        } catch (e) {
          if (via === 'a') failedOnA.push((e as Error).message);
          else await sleep(5); // B is gone: its connections fail
        }
      }
    };
    const traffic = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    // Kill B once it is demonstrably serving (a busy machine may take a while to get there).
    while (acked.filter((x) => x.via === 'b').length < 5 && Date.now() < deadline) await sleep(20);
    killedAt = Date.now();
    await b.stop('SIGKILL');
    deadline = Date.now() + 2_000;
    await traffic;
    assert.deepEqual(failedOnA, [], 'replica A answered every request');
    assert.ok(acked.some((x) => x.via === 'a' && x.at > killedAt + 200), 'A kept serving after B died');
    assert.ok(acked.some((x) => x.via === 'b'), 'B served before it died');
    t.diagnostic(`acknowledged joins: ${acked.filter((x) => x.via === 'b').length} via B before it died, ${acked.filter((x) => x.via === 'a').length} via A`);
    const audited = new Set((await auditRows('bot.join')).filter((r) => r.outcome === 'ok').map((r) => r.data.instance));
    const missing = acked.filter((x) => !audited.has(x.instanceId));
    assert.equal(new Set(acked.map((x) => x.instanceId)).size, acked.length, 'every acknowledged join made its own instance');
    assert.deepEqual(missing, [], `every acknowledged join is in the audit log (${acked.length} acknowledged)`);
  });

  test('restarting both replicas keeps every user, key, token, instance and lock', async (t) => {
    // State made before the restart.
    const users = new UserRepo(db);
    await users.add('alice', ['access'], Date.now());
    await users.addCredential({ id: 'cred-1', userName: 'alice', publicKey: 'pk', counter: 7, transports: [], name: 'yubikey', createdAt: Date.now() });
    const multi = await admin.addToken({ bot: 'ci', maxUses: 5, ttlMs: 3_600_000, renewable: true });
    const key = newBotKey();
    const first = await joinVia(a, multi.text, key);
    assert.equal(first.status, 200);
    const creds = first.body as unknown as Creds;
    const lockedKey = newBotKey();
    const lockedJoin = await joinVia(a, multi.text, lockedKey);
    const locked = lockedJoin.body as unknown as Creds;
    assert.notEqual(locked.instanceId, creds.instanceId);
    await a.lock({ targetKind: 'bot_instance', target: locked.instanceId, message: 'kept across restarts' });
    const caBefore = await caOf(a);

    let t0 = Date.now();
    await Promise.all([a.stop('SIGTERM'), b.stop('SIGKILL')]);
    t.diagnostic(`stopped in ${Date.now() - t0} ms`);
    t0 = Date.now();
    [a, b] = await Promise.all([Replica.start(config), Replica.start(config)]);
    t.diagnostic(`restarted in ${Date.now() - t0} ms`);

    assert.deepEqual(await caOf(b), caBefore, 'same CAs');
    assert.deepEqual((await users.get('alice'))?.roles, ['access']);
    assert.equal((await users.credentials('alice')).length, 1);
    // The instance renews with the certificate issued before the restart.
    const renewed = await renew(b, creds, key);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal((renewed.body as unknown as Creds).generation, 2);
    // The lock still refuses the locked instance.
    const refused = await renew(a, locked, lockedKey);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.code, 'locked');
    // The token remembers its uses: 2 of 5 taken before, 3 left.
    const more = await Promise.all([0, 1, 2, 3].map((i) => joinVia(i % 2 ? b : a, multi.text, newBotKey())));
    assert.equal(more.filter((x) => x.status === 200).length, 3);
  });
});
