/**
 * Machine identity throughput on SQLite: joins/s and renewals/s through the real HTTPS API
 * (every renewal is a fresh mutual-TLS connection with the instance's current certificate,
 * as bots do), and the service layer alone with its time split into signing vs storing.
 * The HTTP load runs in a child process, so the gate's own CPU time per operation can be measured
 * (the build machines are shared: wall-clock rates swing with whatever else runs, CPU per
 * operation does not). `node --import tsx bench/bots.ts` runs it alone.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fork } from 'node:child_process';
import { AuditLog } from '../src/audit/audit';
import { RoleRepo, roleSpecSchema } from '../src/auth/roles';
import { BotAdmin } from '../src/bots/admin';
import { BotService } from '../src/bots/service';
import { parseConfig } from '../src/config/config';
import { systemClock } from '../src/core/clock';
import { Locks } from '../src/locks/locks';
import { CertificateAuthority } from '../src/pki/ca';
import { startGate } from '../src/server/gate';
import type { Db } from '../src/store/db';
import { openDb } from '../src/store/open';

export interface Row {
  name: string;
  value: number;
  unit: string;
  baseline?: string;
  goal?: string;
}

/** Each measurement stops at whichever comes first. */
const MAX_OPS = 2_000;
const MAX_MS = 5_000;
const CONCURRENCY = 32;

interface LoadJob {
  url: string;
  caPem: string;
  token: string;
}

interface Phase {
  ok: number;
  failed: number;
  ms: number;
  firstError?: string;
}

const pemPair = () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKeyPem: k.publicKey, privateKeyPem: k.privateKey };
};

// ---- the load generator (worker thread) ----

function post(url: string, body: unknown, opts: https.RequestOptions): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...opts, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function phase(n: number, op: (i: number) => Promise<void>): Promise<Phase> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const worker = async () => {
    while (next < n && performance.now() - t0 < MAX_MS) {
      const i = next++;
      try {
        await op(i);
        ok++;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { ok, failed, ms: performance.now() - t0, firstError };
}

type ChildMessage = { phase: 'joins' | 'renewals'; event: 'start' } | { phase: 'joins' | 'renewals'; event: 'end'; result: Phase };

/** Tells the parent when each phase starts and ends, so it can read its CPU clock around it. */
async function announced(name: 'joins' | 'renewals', run: () => Promise<Phase>): Promise<void> {
  const send = (m: ChildMessage) => new Promise<void>((res) => process.send!(m, () => res()));
  await send({ phase: name, event: 'start' });
  await send({ phase: name, event: 'end', result: await run() });
}

async function runLoad(job: LoadJob): Promise<void> {
  const keys = Array.from({ length: MAX_OPS }, pemPair);
  const nextKeys = Array.from({ length: MAX_OPS }, pemPair);
  const creds: ({ certPem: string; keyPem: string } | undefined)[] = [];
  // Joins need no client certificate: one keep-alive pool, as a fleet behind a load balancer would look.
  const pool = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: job.caPem });
  await announced('joins', () =>
    phase(MAX_OPS, async (i) => {
      const r = await post(`${job.url}/v1/bots/join`, { token: job.token, publicKey: keys[i]!.publicKeyPem }, { agent: pool });
      if (r.status !== 200) throw new Error(`join: ${r.status} ${String(r.body.message)}`);
      creds[i] = { certPem: r.body.certPem as string, keyPem: keys[i]!.privateKeyPem };
    }),
  );
  pool.destroy();
  const joined = creds.map((c, i) => ({ c, i })).filter((x) => x.c);
  // Every renewal: a new TLS connection presenting that instance's certificate, as bots do.
  await announced('renewals', () =>
    phase(joined.length, async (j) => {
      const { c, i } = joined[j]!;
      const r = await post(`${job.url}/v1/bots/renew`, { publicKey: nextKeys[i]!.publicKeyPem }, { agent: false, ca: job.caPem, cert: c!.certPem, key: c!.keyPem });
      if (r.status !== 200) throw new Error(`renew: ${r.status} ${String(r.body.message)}`);
    }),
  );
}

const LOAD_FLAG = '--bots-load';
if (process.argv.includes(LOAD_FLAG)) {
  process.once('message', (job: LoadJob) => {
    runLoad(job).then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  });
}

/** Runs the load in a child process; returns each phase with the gate process's CPU time spent during it. */
function driveLoad(job: LoadJob): Promise<Record<'joins' | 'renewals', Phase & { gateCpuMs: number }>> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [LOAD_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const out: Partial<Record<'joins' | 'renewals', Phase & { gateCpuMs: number }>> = {};
    let cpu0 = process.cpuUsage();
    child.on('message', (m: ChildMessage) => {
      if (m.event === 'start') cpu0 = process.cpuUsage();
      else {
        const c = process.cpuUsage(cpu0);
        out[m.phase] = { ...m.result, gateCpuMs: (c.user + c.system) / 1000 };
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => (out.joins && out.renewals ? resolve(out as Record<'joins' | 'renewals', Phase & { gateCpuMs: number }>) : reject(new Error(`load generator exited with ${code}`))));
    child.send(job);
  });
}

// ---- the service layer alone, timed by part ----

interface Timer {
  ms: number;
  calls: number;
}

function timedDb(db: Db, t: Timer): Db {
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await fn(...a);
      } finally {
        t.ms += performance.now() - t0;
        t.calls++;
      }
    };
  return {
    engine: db.engine,
    all: wrap(db.all.bind(db)) as Db['all'],
    get: wrap(db.get.bind(db)) as Db['get'],
    run: wrap(db.run.bind(db)),
    tx: (fn) => db.tx((inner) => fn(timedDb(inner, t))),
    listen: db.listen.bind(db),
    notify: db.notify.bind(db),
    close: db.close.bind(db),
  };
}

async function serviceBreakdown(dir: string): Promise<Row[]> {
  const raw = await openDb({ type: 'sqlite', path: join(dir, 'service.db') });
  const store: Timer = { ms: 0, calls: 0 };
  const signing: Timer = { ms: 0, calls: 0 };
  const db = timedDb(raw, store);
  const clock = systemClock;
  const audit = new AuditLog(db, clock);
  const locks = new Locks(db, audit, clock);
  await locks.reload();
  const roles = new RoleRepo(db);
  await roles.upsert({ name: 'access', spec: roleSpecSchema.parse({}) });
  const realCa = await CertificateAuthority.createInMemory('bot', clock);
  const ca = new Proxy(realCa, {
    get(target, prop, receiver) {
      if (prop === 'issue') {
        return async (o: Parameters<CertificateAuthority['issue']>[0]) => {
          const t0 = performance.now();
          try {
            return await target.issue(o);
          } finally {
            signing.ms += performance.now() - t0;
            signing.calls++;
          }
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const admin = new BotAdmin({ db: raw, roles, audit: new AuditLog(raw, clock), clock });
  await admin.addBot('bench', ['access']);
  const { text } = await admin.addToken({ bot: 'bench', maxUses: 100_000, ttlMs: 3_600_000, renewable: true });
  const svc = new BotService({ db, clock, audit, locks, roles, ca, clusterNames: () => ['dev'], tlsCaPem: () => '', kubeUrl: () => 'https://localhost:3026' });

  const n = Math.min(MAX_OPS, 1_000);
  const keys = Array.from({ length: n }, pemPair);
  const nextKeys = Array.from({ length: n }, pemPair);
  const ders: Buffer[] = [];

  const reset = () => Object.assign(store, { ms: 0, calls: 0 }) && Object.assign(signing, { ms: 0, calls: 0 });
  reset();
  let t0 = performance.now();
  for (let i = 0; i < n; i++) ders.push(new X509Certificate((await svc.join({ token: text, publicKey: keys[i]!.publicKeyPem })).certPem).raw);
  const joinMs = performance.now() - t0;
  const joinSign = signing.ms;
  const joinStore = store.ms;

  reset();
  t0 = performance.now();
  for (let i = 0; i < n; i++) await svc.renew(ders[i], { publicKey: nextKeys[i]!.publicKeyPem });
  const renewMs = performance.now() - t0;
  const per = (ms: number) => Math.round((ms / n) * 1000);
  const share = (part: number, total: number) => `${Math.round((part / total) * 100)}% of the call`;
  const rows: Row[] = [
    { name: 'service join (no HTTP)', value: Math.round(n / (joinMs / 1000)), unit: 'joins/s' },
    { name: '  join: signing', value: per(joinSign), unit: 'µs/join', baseline: share(joinSign, joinMs) },
    { name: '  join: storing (token use, instance, audit)', value: per(joinStore), unit: 'µs/join', baseline: share(joinStore, joinMs) },
    { name: 'service renewal (no HTTP)', value: Math.round(n / (renewMs / 1000)), unit: 'renewals/s' },
    { name: '  renewal: signing', value: per(signing.ms), unit: 'µs/renewal', baseline: share(signing.ms, renewMs) },
    { name: '  renewal: storing (read, conditional update, audit)', value: per(store.ms), unit: 'µs/renewal', baseline: `${share(store.ms, renewMs)}, ${(store.calls / n).toFixed(1)} statements` },
    { name: '  renewal: everything else (verify, policy, locks, JSON)', value: per(renewMs - signing.ms - store.ms), unit: 'µs/renewal', baseline: share(renewMs - signing.ms - store.ms, renewMs) },
  ];
  await raw.close();
  return rows;
}

// ---- the whole thing ----

export async function benchBots(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-bench-bots-'));
  try {
    const gate = await startGate(parseConfig({ data_dir: join(dir, 'gate'), listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, log_level: 'silent' }), {});
    let load: Awaited<ReturnType<typeof driveLoad>>;
    try {
      const { ctx } = gate;
      const admin = new BotAdmin({ db: ctx.db, roles: ctx.roles, audit: ctx.audit, clock: ctx.clock });
      await admin.addBot('bench', ['access']);
      const { text } = await admin.addToken({ bot: 'bench', maxUses: 100_000, ttlMs: 3_600_000, renewable: true });
      load = await driveLoad({ url: gate.apiUrl.replace('localhost', '127.0.0.1'), caPem: ctx.tls.caPem, token: text });
    } finally {
      await gate.close();
    }
    const rate = (p: Phase) => Math.round(p.ok / (p.ms / 1000));
    const perCore = (p: Phase & { gateCpuMs: number }) => Math.round(p.ok / (p.gateCpuMs / 1000));
    const note = (p: Phase & { gateCpuMs: number }) =>
      `${p.ok} ok${p.failed ? `, ${p.failed} failed (${p.firstError})` : ''} in ${(p.ms / 1000).toFixed(1)} s, ${CONCURRENCY} clients; gate CPU ${Math.round((p.gateCpuMs * 1000) / Math.max(1, p.ok))} µs each`;
    const renewCapacity = perCore(load.renewals);
    const rows: Row[] = [
      { name: 'HTTPS join, wall clock (keep-alive, no client cert)', value: rate(load.joins), unit: 'joins/s', baseline: note(load.joins) },
      { name: 'HTTPS join, per second of gate CPU', value: perCore(load.joins), unit: 'joins/s per core' },
      { name: 'HTTPS renewal, wall clock (new mTLS connection each)', value: rate(load.renewals), unit: 'renewals/s', baseline: note(load.renewals) },
      {
        name: 'HTTPS renewal, per second of gate CPU',
        value: renewCapacity,
        unit: 'renewals/s per core',
        goal: `>= 1,000/s: ${renewCapacity >= 1_000 ? 'met' : 'NOT met'}`,
      },
    ];
    return [...rows, ...(await serviceBreakdown(dir))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!process.argv.includes(LOAD_FLAG) && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  console.table(await benchBots());
}
