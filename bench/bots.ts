/**
 * Machine identity throughput on SQLite: joins/s and renewals/s through the real HTTPS API, both
 * ways a bot can prove its current certificate — mutual TLS (a fresh handshake per renewal, the
 * certificate changes every time) and a signature in the body (over a fresh plain-TLS connection,
 * and over a kept-alive one) — beside a bare mTLS handshake measured in the same run, and the
 * service layer alone with its time split into signing vs storing.
 *
 * Renewals run as chains, as bots do: each presents the certificate the instance's previous
 * renewal returned (so the gate has never verified it: its CA verify cache is cold).
 *
 * The HTTP load runs in a child process so the gate's own CPU time per operation can be read:
 * the build machines are shared, and wall-clock rates swing with whatever else runs there while
 * CPU per operation moves much less. `node --import tsx bench/bots.ts` runs this section alone.
 * Renewals send x-tapgate-ca-fingerprint as the agent does, so answers leave the CA files out.
 */
import { fork } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AuditLog } from '../src/audit/audit';
import { RoleRepo, roleSpecSchema } from '../src/auth/roles';
import { BotAdmin } from '../src/bots/admin';
import { CA_FINGERPRINT_HEADER } from '../src/bots/ca-fingerprint';
import { signRenewProof } from '../src/bots/key-proof';
import { BotService } from '../src/bots/service';
import { parseConfig } from '../src/config/config';
import { systemClock } from '../src/core/clock';
import { Locks } from '../src/locks/locks';
import { CertificateAuthority } from '../src/pki/ca';
import { startGate } from '../src/server/gate';
import type { Db } from '../src/store/db';
import { openDb } from '../src/store/open';
import type { Row } from './row';


/** Each measurement stops at whichever comes first. */
const MAX_OPS = 2_000;
const MAX_MS = 5_000;
const CONCURRENCY = 32;
const GOAL = 1_000;
/** Keys renewals ask certificates for, used round-robin (the gate does not care that instances share one). */
const NEXT_KEYS = 256;

const PHASES = ['joins', 'handshakes', 'mtls', 'signedFresh', 'signedWarm'] as const;
type PhaseName = (typeof PHASES)[number];

interface LoadJob {
  url: string;
  /** a bare HTTPS server asking for a client certificate, answering {} */
  bareUrl: string;
  caPem: string;
  token: string;
}

interface Phase {
  ok: number;
  failed: number;
  ms: number;
  firstError?: string;
  /** the load generator's own CPU time in the phase */
  clientCpuMs?: number;
}

type Measured = Phase & { gateCpuMs: number };
type ChildMessage = { phase: PhaseName; event: 'start' } | { phase: PhaseName; event: 'end'; result: Phase };

interface KeyPair {
  publicKeyPem: string;
  privateKeyPem: string;
  key: KeyObject;
}

const pemPair = (): KeyPair => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKeyPem: k.publicKey, privateKeyPem: k.privateKey, key: createPrivateKey(k.privateKey) };
};

// ---- the load generator (child process) ----

function post(url: string, body: unknown, opts: https.RequestOptions, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...opts, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

type Answer = { status: number; body: Record<string, unknown> };

/** Runs `op(client, k)` (k: that client's k-th call) from `clients` clients until n calls or MAX_MS. */
async function phase(n: number, op: (client: number, k: number) => Promise<void>, clients = CONCURRENCY): Promise<Phase> {
  let started = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const client = async (c: number) => {
    for (let k = 0; started < n && performance.now() - t0 < MAX_MS; k++) {
      started++;
      try {
        await op(c, k);
        ok++;
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return { ok, failed, ms: performance.now() - t0, firstError };
}

/** Tells the parent when each phase starts and ends, so it reads its CPU clock around exactly that. */
async function announced(name: PhaseName, run: () => Promise<Phase>): Promise<void> {
  const send = (m: ChildMessage) => new Promise<void>((res) => process.send!(m, () => res()));
  await send({ phase: name, event: 'start' });
  const cpu0 = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(cpu0);
  await send({ phase: name, event: 'end', result: { ...result, clientCpuMs: (cpu.user + cpu.system) / 1000 } });
}

/** An instance as its bot holds it: the newest certificate and its key. */
interface Held {
  certPem: string;
  keyPem: string;
  key: KeyObject;
}

async function runLoad(job: LoadJob): Promise<void> {
  const keys = Array.from({ length: MAX_OPS }, pemPair);
  const nextKeys = Array.from({ length: NEXT_KEYS }, pemPair);
  let nextKey = 0;
  let joinNext = 0;
  const held: (Held | undefined)[] = [];
  // Renewals name the CA files the bot holds, as the agent does, so the gate leaves them out.
  const holding: Record<string, string> = {};
  // Joins need no client certificate: one keep-alive pool, as a fleet behind a load balancer would look.
  const pool = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: job.caPem });
  await announced('joins', () =>
    phase(MAX_OPS, async () => {
      const i = joinNext++;
      const r = await post(`${job.url}/v1/bots/join`, { token: job.token, publicKey: keys[i]!.publicKeyPem }, { agent: pool });
      if (r.status !== 200) throw new Error(`join: ${r.status} ${String(r.body.message)}`);
      held[i] = { certPem: r.body.certPem as string, keyPem: keys[i]!.privateKeyPem, key: keys[i]!.key };
      holding[CA_FINGERPRINT_HEADER] = r.body.caFingerprint as string;
    }),
  );
  const joined = held.filter((h): h is Held => h !== undefined);
  const mtls = (h: Held): https.RequestOptions => ({ agent: false, ca: job.caPem, cert: h.certPem, key: h.keyPem });
  // The floor under any mTLS renewal: a fresh mutual-TLS handshake and an empty answer.
  await announced('handshakes', () => phase(joined.length, async (c, k) => void (await post(job.bareUrl, {}, mtls(joined[(c + k * CONCURRENCY) % joined.length]!)))));

  // Each client renews only its own instances, in turn: an instance never has two renewals in flight.
  const clients = Math.min(CONCURRENCY, joined.length);
  const owned = Array.from({ length: clients }, (_, c) => joined.filter((_, j) => j % clients === c));
  const url = `${job.url}/v1/bots/renew`;
  /** One renewal of one of client c's instances, sent by `send`; the instance then holds what the gate returned. */
  const renewal = (send: (h: Held, next: KeyPair) => Promise<Answer>) => async (c: number, k: number) => {
    const h = owned[c]![k % owned[c]!.length]!;
    const next = nextKeys[nextKey++ % NEXT_KEYS]!;
    const r = await send(h, next);
    if (r.status !== 200) throw new Error(`renew: ${r.status} ${String(r.body.message)}`);
    if (r.body.caPem !== undefined) throw new Error('renew: the answer carried the CA files the bot holds');
    Object.assign(h, { certPem: r.body.certPem as string, keyPem: next.privateKeyPem, key: next.key });
  };
  const signed = (h: Held, next: KeyPair) => {
    const at = Date.now();
    return { publicKey: next.publicKeyPem, cert: h.certPem, proof: signRenewProof(h.key, h.certPem, next.publicKeyPem, at), at };
  };
  await announced('mtls', () => phase(MAX_OPS, renewal((h, next) => post(url, { publicKey: next.publicKeyPem }, mtls(h), holding)), clients));
  await announced('signedFresh', () => phase(MAX_OPS, renewal((h, next) => post(url, signed(h, next), { agent: false, ca: job.caPem }, holding)), clients));
  // The joins' pool: its connections are warm already.
  await announced('signedWarm', () => phase(MAX_OPS, renewal((h, next) => post(url, signed(h, next), { agent: pool }, holding)), clients));
  pool.destroy();
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

/** Runs the load in a child process; returns each phase with this process's CPU time during it. */
function driveLoad(job: LoadJob): Promise<Record<PhaseName, Measured>> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [LOAD_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const out: Partial<Record<PhaseName, Measured>> = {};
    let cpu0 = process.cpuUsage();
    child.on('message', (m: ChildMessage) => {
      if (m.event === 'start') cpu0 = process.cpuUsage();
      else {
        const c = process.cpuUsage(cpu0);
        out[m.phase] = { ...m.result, gateCpuMs: (c.user + c.system) / 1000 };
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => (PHASES.every((p) => out[p]) ? resolve(out as Record<PhaseName, Measured>) : reject(new Error(`load generator exited with ${code}`))));
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

/** The CA with its issue() timed. */
function timedCa(ca: CertificateAuthority, t: Timer): CertificateAuthority {
  return new Proxy(ca, {
    get(target, prop, receiver) {
      if (prop === 'issue') {
        return async (o: Parameters<CertificateAuthority['issue']>[0]) => {
          const t0 = performance.now();
          try {
            return await target.issue(o);
          } finally {
            t.ms += performance.now() - t0;
            t.calls++;
          }
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
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
  const ca = timedCa(await CertificateAuthority.createInMemory('bot', clock), signing);
  const admin = new BotAdmin({ db: raw, roles, audit: new AuditLog(raw, clock), clock });
  await admin.addBot('bench', ['access']);
  const { text } = await admin.addToken({ bot: 'bench', maxUses: 100_000, ttlMs: 3_600_000, renewable: true });
  const svc = new BotService({ db, clock, audit, locks, roles, ca, clusterNames: () => ['dev'], tlsCaPem: () => '', kubeUrl: () => 'https://localhost:3026' });

  const n = Math.min(MAX_OPS, 1_000);
  // Instances 0..n-1 renew over mutual TLS, n..2n-1 with a signed proof; every certificate is new to the CA.
  const keys = Array.from({ length: 2 * n }, pemPair);
  const nextKeys = Array.from({ length: n }, pemPair);
  const joined: string[] = [];
  const reset = () => {
    Object.assign(store, { ms: 0, calls: 0 });
    Object.assign(signing, { ms: 0, calls: 0 });
  };
  const measure = async (count: number, fn: (i: number) => Promise<void>) => {
    reset();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < count; i++) await fn(i);
    const cpu = process.cpuUsage(cpu0);
    return { n: count, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, signMs: signing.ms, storeMs: store.ms, statements: store.calls / count };
  };
  const joins = await measure(2 * n, async (i) => void joined.push((await svc.join({ token: text, publicKey: keys[i]!.publicKeyPem })).certPem));
  const ders = joined.map((pem) => new X509Certificate(pem).raw);
  const renewals = await measure(n, async (i) => void (await svc.renew(ders[i], { publicKey: nextKeys[i]!.publicKeyPem })));
  // The bots' side of the work (signing the proofs) is done before the clock starts.
  const at = Date.now();
  const proofs = nextKeys.map((next, i) => ({ certPem: joined[n + i]!, proof: signRenewProof(keys[n + i]!.key, joined[n + i]!, next.publicKeyPem, at), at }));
  const signedRenewals = await measure(n, async (i) => void (await svc.renew(proofs[i], { publicKey: nextKeys[i]!.publicKeyPem })));
  await raw.close();

  type M = Awaited<ReturnType<typeof measure>>;
  const per = (ms: number, m: M) => Math.round((ms / m.n) * 1000);
  const share = (part: number, total: number) => `${Math.round((part / total) * 100)}% of the call`;
  const perCpu = (m: M) => Math.round(m.n / (m.cpuMs / 1000));
  const rows = (what: string, unit: string, m: M, stored: string, rest = 'verify, policy, locks, JSON'): Row[] => [
    { name: `service ${what} (no HTTP), per second of CPU`, value: perCpu(m), unit: `${unit}s/s per core`, baseline: `wall clock ${Math.round(m.n / (m.wallMs / 1000))}/s` },
    { name: `  ${what}: signing`, value: per(m.signMs, m), unit: `µs/${unit}`, baseline: share(m.signMs, m.wallMs) },
    { name: `  ${what}: storing (${stored})`, value: per(m.storeMs, m), unit: `µs/${unit}`, baseline: `${share(m.storeMs, m.wallMs)}, ${m.statements.toFixed(1)} statements` },
    { name: `  ${what}: everything else (${rest})`, value: per(m.wallMs - m.signMs - m.storeMs, m), unit: `µs/${unit}`, baseline: share(m.wallMs - m.signMs - m.storeMs, m.wallMs) },
  ];
  const goal = (m: M) => `>= ${GOAL.toLocaleString('en-US')}/s: ${perCpu(m) >= GOAL ? 'met' : 'NOT met'}`;
  const stored = 'read, role, conditional update, audit';
  const renewalRows = rows('renewal, mTLS', 'renewal', renewals, stored);
  const signedRows = rows('renewal, signed proof', 'renewal', signedRenewals, stored, 'verify, proof key and signature, policy, locks, JSON');
  renewalRows[0]!.goal = goal(renewals);
  signedRows[0]!.goal = goal(signedRenewals);
  const out = [...rows('join', 'join', joins, 'token use, instance, audit'), ...renewalRows, ...signedRows];
  return out;
}

// ---- the whole section ----

export async function benchBots(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-bench-bots-'));
  try {
    const gate = await startGate(parseConfig({ data_dir: join(dir, 'gate'), listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, log_level: 'silent' }), {});
    const { ctx } = gate;
    const bare = https.createServer({ cert: ctx.tls.certPem, key: ctx.tls.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    let load: Record<PhaseName, Measured>;
    try {
      const admin = new BotAdmin({ db: ctx.db, roles: ctx.roles, audit: ctx.audit, clock: ctx.clock });
      await admin.addBot('bench', ['access']);
      const { text } = await admin.addToken({ bot: 'bench', maxUses: 100_000, ttlMs: 3_600_000, renewable: true });
      load = await driveLoad({
        url: gate.apiUrl.replace('localhost', '127.0.0.1'),
        bareUrl: `https://127.0.0.1:${(bare.address() as AddressInfo).port}/`,
        caPem: ctx.tls.caPem,
        token: text,
      });
    } finally {
      bare.close();
      await gate.close();
    }
    const rate = (p: Phase) => Math.round(p.ok / (p.ms / 1000));
    const perCore = (p: Measured) => Math.round(p.ok / (p.gateCpuMs / 1000));
    const cpuEach = (p: Measured) => Math.round((p.gateCpuMs * 1000) / Math.max(1, p.ok));
    const clientEach = (p: Measured) => Math.round(((p.clientCpuMs ?? 0) * 1000) / Math.max(1, p.ok));
    const note = (p: Measured) =>
      `${p.ok} ok${p.failed ? `, ${p.failed} failed (${p.firstError})` : ''} in ${(p.ms / 1000).toFixed(1)} s, ${CONCURRENCY} clients; CPU each: gate ${cpuEach(p)} µs, load generator ${clientEach(p)} µs`;
    const goal = (v: number) => `>= ${GOAL.toLocaleString('en-US')}/s: ${v >= GOAL ? 'met' : 'NOT met'}`;
    const { joins, handshakes, mtls, signedFresh, signedWarm } = load;
    const renewalRows = (how: string, p: Measured, extra: Partial<Row> = {}): Row[] => [
      { name: `HTTPS renewal, ${how}: wall clock`, value: rate(p), unit: 'renewals/s', baseline: note(p), goal: goal(rate(p)) },
      { name: `HTTPS renewal, ${how}: per second of gate CPU`, value: perCore(p), unit: 'renewals/s per core', goal: goal(perCore(p)), ...extra },
    ];
    const rows: Row[] = [
      { name: 'HTTPS join (keep-alive, no client cert), wall clock', value: rate(joins), unit: 'joins/s', baseline: note(joins) },
      { name: 'HTTPS join, per second of gate CPU', value: perCore(joins), unit: 'joins/s per core' },
      { name: 'bare mTLS handshake + empty answer, per second of server CPU', value: perCore(handshakes), unit: 'handshakes/s per core', baseline: note(handshakes) },
      ...renewalRows('mTLS (new connection each)', mtls, { baseline: `the mTLS handshake alone is ${Math.round((cpuEach(handshakes) / cpuEach(mtls)) * 100)}% of it` }),
      ...renewalRows('signed proof, new TLS connection each (no client cert)', signedFresh),
      ...renewalRows('signed proof, kept-alive connections', signedWarm),
    ];
    return [...rows, ...(await serviceBreakdown(dir))];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!process.argv.includes(LOAD_FLAG) && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  console.table(await benchBots());
}
