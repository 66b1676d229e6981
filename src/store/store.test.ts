/**
 * The same store tests against both engines. Each engine opens "handles" on one shared store: for
 * PostgreSQL two handles are two gate replicas on one database; SQLite is single-gate, so its
 * cross-handle cases only run where the engine is meant to share state.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { tryStartTestPostgres, type TestPostgres } from '../../test/helpers/postgres';
import { AuditLog } from '../audit/audit';
import { RoleRepo } from '../auth/roles';
import { ManualClock } from '../core/clock';
import { Locks, LOCKS_CHANNEL } from '../locks/locks';
import type { Identity } from '../pki/identity';
import type { Db } from './db';
import { migrate, migrations } from './migrations';
import { openDb } from './open';
import { PostgresDb, RESYNC_PAYLOAD } from './postgres';
import { SqliteDb } from './sqlite';

interface Store {
  handle(): Promise<Db>;
  url?: string;
}

interface Engine {
  name: 'sqlite' | 'postgres';
  /** Several replicas can share this store (and its notifications). */
  shared: boolean;
  skip?: string;
  /** A fresh, migrated store; `handle()` opens one more connection handle on it. */
  fresh(): Promise<Store>;
}

const pgServer = await tryStartTestPostgres();
const tmp = mkdtempSync(join(tmpdir(), 'tapgate-store-'));
const opened: Db[] = [];
const track = (db: Db) => (opened.push(db), db);

after(async () => {
  await Promise.allSettled(opened.map((d) => d.close()));
  if ('stop' in pgServer) await pgServer.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const engines: Engine[] = [
  {
    name: 'sqlite',
    shared: false,
    async fresh() {
      const path = join(tmp, `s${n++}.db`);
      return { handle: async () => track(await openDb({ type: 'sqlite', path })) };
    },
  },
  {
    name: 'postgres',
    shared: true,
    skip: 'skip' in pgServer ? pgServer.skip : undefined,
    async fresh() {
      const url = await (pgServer as TestPostgres).newDatabase();
      return { url, handle: async () => track(await openDb({ type: 'postgres', url })) };
    },
  },
];

const mallory: Identity = { usage: 'mfa', kind: 'user', name: 'mallory', roles: [], kubeUsers: [], kubeGroups: [], clusters: [] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A table of the test's own, so the engine tests do not follow every schema change. */
const SCRATCH = 'CREATE TABLE scratch (id TEXT PRIMARY KEY, n INTEGER NOT NULL, max_n INTEGER NOT NULL, flag INTEGER NOT NULL, at BIGINT, used_at BIGINT)';

async function addRow(db: Db, id: string, maxN = 1, at: number | null = null): Promise<void> {
  await db.run('INSERT INTO scratch (id, n, max_n, flag, at) VALUES ($1, 0, $2, $3, $4)', [id, maxN, true, at]);
}

for (const engine of engines) {
  describe(`store on ${engine.name}`, { skip: engine.skip }, () => {
    let db: Db;
    let store: Store;
    before(async () => {
      store = await engine.fresh();
      db = await store.handle();
      await db.run(SCRATCH);
    });

    test('placeholders bind by number, repeat, and come back typed', async () => {
      const now = Date.now();
      await db.run('INSERT INTO scratch (max_n, id, n, flag, at, used_at) VALUES ($3, $2, $3, 0, $1, $4)', [now, 'p1', 7, undefined]);
      const row = await db.get<{ id: string; n: number; max_n: number; at: number; used_at: number | null }>('SELECT id, n, max_n, at, used_at FROM scratch WHERE id = $1', ['p1']);
      assert.deepEqual(row, { id: 'p1', n: 7, max_n: 7, at: now, used_at: null });
      assert.equal(typeof row!.at, 'number', 'BIGINT epoch ms is a number, not a string');
      assert.deepEqual(await db.get('SELECT COUNT(*) AS c FROM scratch'), { c: 1 });
      assert.equal(await db.get('SELECT * FROM scratch WHERE id = $1', ['nope']), undefined);
    });

    test('booleans are stored as INTEGER 0/1', async () => {
      await addRow(db, 'bool');
      assert.deepEqual(await db.get('SELECT flag FROM scratch WHERE id = $1', ['bool']), { flag: 1 });
      await db.run('UPDATE scratch SET flag = $1 WHERE id = $2', [false, 'bool']);
      assert.deepEqual(await db.get('SELECT flag FROM scratch WHERE id = $1', ['bool']), { flag: 0 });
    });

    test('run reports changed rows; UPDATE ... RETURNING works through get, all and run', async () => {
      await addRow(db, 'ret', 3);
      assert.deepEqual(await db.run('UPDATE scratch SET n = n + 1 WHERE id = $1', ['ret']), { changes: 1 });
      assert.deepEqual(await db.get('UPDATE scratch SET n = n + 1 WHERE id = $1 RETURNING n', ['ret']), { n: 2 });
      assert.deepEqual(await db.all('UPDATE scratch SET n = n + 1 WHERE id = $1 AND n < max_n RETURNING n', ['ret']), [{ n: 3 }]);
      assert.deepEqual(await db.run('UPDATE scratch SET n = n + 1 WHERE id = $1 AND n < max_n RETURNING n', ['ret']), { changes: 0 });
      assert.deepEqual(await db.run('DELETE FROM scratch WHERE id = $1', ['missing']), { changes: 0 });
    });

    test('tx commits everything or nothing', async () => {
      const out = await db.tx(async (t) => {
        await addRow(t, 'tx-a');
        await addRow(t, 'tx-b');
        return 'done';
      });
      assert.equal(out, 'done');
      await assert.rejects(
        db.tx(async (t) => {
          await addRow(t, 'tx-c');
          await addRow(t, 'tx-a'); // duplicate key
        }),
      );
      await assert.rejects(
        db.tx(async (t) => {
          await addRow(t, 'tx-d');
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      const ids = (await db.all<{ id: string }>("SELECT id FROM scratch WHERE id LIKE 'tx-%' ORDER BY id")).map((r) => r.id);
      assert.deepEqual(ids, ['tx-a', 'tx-b']);
    });

    test('a nested tx joins the outer one', async () => {
      await assert.rejects(
        db.tx(async (t) => {
          await t.tx((t2) => addRow(t2, 'nested'));
          throw new Error('outer fails');
        }),
      );
      assert.equal(await db.get("SELECT id FROM scratch WHERE id = 'nested'"), undefined);
    });

    test('statements outside a tx never see its uncommitted writes', async () => {
      let release!: () => void;
      const hold = new Promise<void>((r) => (release = r));
      const inside = db.tx(async (t) => {
        await addRow(t, 'pending');
        await hold;
        throw new Error('rolled back');
      });
      await sleep(20);
      const seen = db.get("SELECT id FROM scratch WHERE id = 'pending'");
      release();
      await assert.rejects(inside);
      assert.equal(await seen, undefined);
    });

    test('50 concurrent atomic uses of a 5-use token: exactly 5 succeed, each a distinct count', async () => {
      const other = engine.shared ? await store.handle() : db;
      await addRow(db, 'five', 5);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? other : db).get<{ n: number }>('UPDATE scratch SET n = n + 1 WHERE id = $1 AND n < max_n RETURNING n', ['five'])),
      );
      const won = results.filter((r) => r !== undefined).map((r) => r!.n);
      assert.deepEqual(won.sort(), [1, 2, 3, 4, 5]);
      assert.deepEqual(await db.get('SELECT n FROM scratch WHERE id = $1', ['five']), { n: 5 });
    });

    test('a single-use challenge is taken once however many race for it', async () => {
      const other = engine.shared ? await store.handle() : db;
      await addRow(db, 'challenge');
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? other : db).run('UPDATE scratch SET used_at = $1 WHERE id = $2 AND used_at IS NULL', [Date.now(), 'challenge'])),
      );
      assert.equal(results.filter((r) => r.changes === 1).length, 1);
    });

    test('read-then-write transactions racing on one counter never hand out a value twice', async () => {
      const other = engine.shared ? await store.handle() : db;
      await addRow(db, 'generation');
      const issued = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : db).tx(async (t) => {
            const row = await t.get<{ n: number }>('SELECT n FROM scratch WHERE id = $1', ['generation']);
            const next = row!.n + 1;
            await sleep(1); // let the others read the same value if isolation allowed it
            await t.run('UPDATE scratch SET n = $1 WHERE id = $2', [next, 'generation']);
            return next;
          }),
        ),
      );
      assert.equal(new Set(issued).size, 20, `values issued twice: ${issued.join(',')}`);
      assert.deepEqual(await db.get('SELECT n FROM scratch WHERE id = $1', ['generation']), { n: 20 });
    });

    test('listen receives notify; unlisten stops it', async () => {
      const got: string[] = [];
      const off = await db.listen('tapgate_test', (p) => got.push(p));
      await db.notify('tapgate_test', 'one');
      await until('the notification', () => got.includes('one'));
      off();
      await db.notify('tapgate_test', 'two');
      await sleep(100);
      assert.deepEqual(got, ['one']);
    });

    test('a notification sent inside a transaction that rolls back is not a lie about committed state', async () => {
      const got: string[] = [];
      const off = await db.listen('tapgate_test2', (p) => got.push(p));
      await assert.rejects(
        db.tx(async (t) => {
          await t.notify('tapgate_test2', 'rolled-back');
          throw new Error('no');
        }),
      );
      await db.tx((t) => t.notify('tapgate_test2', 'committed'));
      await until('the committed notification', () => got.includes('committed'));
      off();
      if (engine.name === 'postgres') assert.deepEqual(got, ['committed']);
    });

    test('migrations are recorded and running them again applies nothing', async () => {
      const versions = (await db.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version);
      assert.deepEqual(versions, migrations.map((m) => m.version));
      const again = await store.handle(); // opening runs migrate() once more
      assert.deepEqual(await again.get('SELECT COUNT(*) AS n FROM schema_migrations'), { n: migrations.length });
      if (again instanceof SqliteDb) assert.equal(await migrate({ db: again, exec: async (s) => again.exec(s) }), 0);
      if (again instanceof PostgresDb) assert.equal(await again.migrate(), 0);
    });

    test('roles upsert with ON CONFLICT on both engines', async () => {
      const roles = new RoleRepo(db);
      await roles.upsert({ name: 'dev', spec: { kubernetes_users: [], kubernetes_groups: ['dev'], kube_clusters: ['*'], max_session_ttl: 1, require_session_mfa: true, mfa_verification_interval: 2, disconnect_expired_cert: false } });
      await roles.upsert({ name: 'dev', spec: { kubernetes_users: [], kubernetes_groups: ['ops'], kube_clusters: ['*'], max_session_ttl: 1, require_session_mfa: true, mfa_verification_interval: 2, disconnect_expired_cert: false } });
      assert.deepEqual((await roles.get('dev'))!.spec.kubernetes_groups, ['ops']);
    });

    test('audit and locks work through the engine; expired locks are dropped', async () => {
      const clock = new ManualClock();
      const audit = new AuditLog(db, clock);
      const locks = new Locks(db, audit, clock);
      await locks.start();
      try {
        const l = await locks.create({ targetKind: 'user', target: 'mallory', message: 'stolen laptop', ttlMs: 60_000, createdBy: 'user:admin' });
        assert.equal(locks.match(mallory)?.id, l.id);
        assert.deepEqual((await locks.list()).map((x) => x.id), [l.id]);
        clock.advance(61_000);
        assert.equal(locks.match(mallory), undefined);
        assert.deepEqual(await locks.list(), []);
        const events = (await audit.list()).map((r) => [r.event, typeof r.ts, r.data.target]);
        assert.deepEqual(events, [
          ['lock.created', 'number', 'mallory'],
          ['lock.expired', 'number', 'mallory'],
        ]);
      } finally {
        locks.stop();
      }
    });

    test('a lock made through one replica reaches another replica within a second', { skip: !engine.shared && 'SQLite serves one gate' }, async () => {
      const a = db;
      const b = await store.handle();
      const locksA = new Locks(a, new AuditLog(a));
      const locksB = new Locks(b, new AuditLog(b));
      await locksA.start();
      await locksB.start();
      try {
        let seenAt = 0;
        locksB.onChange((ls) => {
          if (!seenAt && ls.some((l) => l.target === 'eve')) seenAt = Date.now();
        });
        const t0 = Date.now();
        await locksA.create({ targetKind: 'user', target: 'eve', createdBy: 'admin' });
        await until('replica B to see the lock', () => seenAt > 0, 1_000);
        assert.ok(seenAt - t0 < 1_000);
      } finally {
        locksA.stop();
        locksB.stop();
      }
    });

    test('replicas opening a fresh database at once both migrate cleanly', { skip: !engine.shared && 'SQLite serves one gate' }, async () => {
      const url = await (pgServer as TestPostgres).newDatabase();
      const dbs = await Promise.all([0, 1, 2].map(() => openDb({ type: 'postgres', url }).then(track)));
      for (const d of dbs) assert.deepEqual(await d.get('SELECT COUNT(*) AS n FROM schema_migrations'), { n: migrations.length });
    });

    test('the notification connection comes back after being killed, and listeners are told to resync', { skip: engine.name !== 'postgres' && 'PostgreSQL only' }, async () => {
      const d = (await store.handle()) as PostgresDb;
      const got: string[] = [];
      await d.listen(LOCKS_CHANNEL, (p) => got.push(p));
      const admin = new pg.Client({ connectionString: store.url });
      await admin.connect();
      try {
        const r = await admin.query("SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()");
        assert.ok(r.rowCount! >= 1, 'found the listening connection');
      } finally {
        await admin.end();
      }
      await until('the resync callback', () => got.includes(RESYNC_PAYLOAD), 5_000);
      await db.notify(LOCKS_CHANNEL, 'after');
      await until('a notification after reconnecting', () => got.includes('after'), 5_000);
    });

    test('an unreachable database is a clear error that does not show the password', { skip: engine.name !== 'postgres' && 'PostgreSQL only' }, async () => {
      await assert.rejects(openDb({ type: 'postgres', url: 'postgres://tapgate:s3cret@127.0.0.1:1/tapgate' }), (e: Error) => {
        assert.match(e.message, /^cannot reach PostgreSQL at postgres:\/\/tapgate:\*\*\*@127\.0\.0\.1:1\/tapgate: .*check storage\.url/);
        assert.doesNotMatch(e.message, /s3cret/);
        return true;
      });
    });
  });
}
