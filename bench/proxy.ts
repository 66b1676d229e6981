/**
 * The proxy table: small GETs (p50/p99, req/s at 1 and 32 clients) and bulk MB/s through
 *   direct        load -> fake API server
 *   nginx chain   load -> nginx hop 1 -> nginx hop 2 -> fake API server   (same certificates)
 *   tapgate       load -> local kube proxy -> gate kube listener -> fake API server
 * all in one run. The fake and the gate run in their own processes, the local proxy in this one,
 * the load generator in another; nginx runs one worker for both hops.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ConnectionTracker } from '../src/client/connection-tracker';
import { GateUpstream } from '../src/client/gate-upstream';
import { LocalProxy } from '../src/client/local-proxy';
import { MfaSession, type MfaIssuer } from '../src/client/mfa-session';
import type { TapPrompt } from '../src/client/tap-prompt';
import { systemClock } from '../src/core/clock';
import { CertificateAuthority, generateKeyPair } from '../src/pki/ca';
import { openDb } from '../src/store/open';
import { startCpuProfile } from '../test/helpers/cpu-profile';
import { Replica } from '../test/helpers/replica';
import { nginxAvailable, startNginxChain } from './nginx';
import { processCpuMicros, treeCpuMicros } from './proc-cpu';
import { runLoad, type LoadResult, type LoadSpec } from './load';
import type { Row } from './run';

const SMALL_PATH = '/api/v1/namespaces/default';
const BULK_PATH = '/api/v1/namespaces/default/configmaps/bulk';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const MAX_REQUESTS = 60_000;
/** BENCH_PROFILE=<dir>: CPU profiles of the local proxy and the gate during the tapgate 32-client run */
const PROFILE_DIR = process.env.BENCH_PROFILE;

interface Target {
  name: string;
  base: string;
  tls: { ca: string; cert: string; key: string };
  /** CPU time (µs) used so far by each hop between the load generator and the fake */
  hopsCpu?: () => number[];
  /** profiles the hops around the 32-client run; the returned function writes the profiles */
  profile?: () => Promise<() => Promise<void>>;
}

interface Measured {
  one: LoadResult;
  many: LoadResult;
  bulk: LoadResult;
  /** CPU of each hop per small GET at 32 clients, µs */
  hopCpuUs: number[];
  /** CPU of each hop per MB of the bulk reads, µs */
  hopCpuPerMbUs: number[];
}

export async function startFake(): Promise<{ info: { url: string; caPem: string; clientCertPem: string; clientKeyPem: string; kubeconfig: string }; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fake-process.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.once('exit', (c) => reject(new Error(`fake API server exited with ${c}`)));
  });
  return { info: JSON.parse(line), pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

/** Issues MFA certificates straight from the gate's user CA: the bench measures the path, not the tap. */
function directIssuer(ca: CertificateAuthority): MfaIssuer {
  const pending = new Map<string, { publicKeyPem: string; clusters: string[]; ttlMs: number }>();
  return {
    async createMfaRequest(r) {
      const id = `bench-${pending.size + 1}`;
      pending.set(id, { publicKeyPem: r.publicKeyPem, clusters: r.clusters, ttlMs: r.ttlMs ?? 3_600_000 });
      return { id, tapUrl: 'about:blank', expiresAt: Date.now() + 60_000 };
    },
    async waitMfaRequest(id) {
      const r = pending.get(id)!;
      const now = Date.now();
      const issued = await ca.issue({
        publicKeyPem: r.publicKeyPem,
        ttlMs: Math.min(r.ttlMs, 3_600_000),
        identity: { usage: 'mfa', kind: 'user', name: 'bench', roles: ['access'], kubeUsers: [], kubeGroups: [], clusters: r.clusters, mfaDevice: 'bench-key', mfaVerifiedAt: now, loginExpires: now + 3_600_000 },
      });
      return { certPem: issued.certPem, notAfter: issued.notAfter, ttlMs: issued.notAfter - now, cappedBy: 'requested' };
    },
    async cancelMfaRequest() {},
  };
}

async function profileTapgate(dir: string, gate: Replica): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const stopLocal = await startCpuProfile();
  await gate.profileStart();
  return async () => {
    await Promise.all([stopLocal(join(dir, 'local-proxy.cpuprofile')), gate.profileStop(join(dir, 'gate.cpuprofile'))]);
  };
}

const silentPrompt: TapPrompt = { show() {}, close() {} };

async function measure(t: Target): Promise<Measured> {
  const small = { url: t.base + SMALL_PATH, tls: t.tls, seconds: SECONDS, maxRequests: MAX_REQUESTS };
  // warm connections (all 32 on every hop, so no pool grows inside a measured window) and JITs
  await runLoad({ ...small, concurrency: 32, seconds: 1 });
  const one = await runLoad({ ...small, concurrency: 1 });
  /** A load, and the CPU (µs) each hop used meanwhile. */
  const withHopCpu = async (spec: LoadSpec): Promise<[LoadResult, number[]]> => {
    const before = t.hopsCpu?.() ?? [];
    const r = await runLoad(spec);
    return [r, (t.hopsCpu?.() ?? []).map((c, i) => c - before[i]!)];
  };
  const writeProfiles = await t.profile?.();
  const [many, manyCpu] = await withHopCpu({ ...small, concurrency: 32 });
  await writeProfiles?.();
  const [bulk, bulkCpu] = await withHopCpu({ url: t.base + BULK_PATH, tls: t.tls, seconds: SECONDS, maxRequests: 2_000, concurrency: 4, bulk: true });
  const hopCpuUs = manyCpu.map((c) => c / many.requests);
  const hopCpuPerMbUs = bulkCpu.map((c) => c / (bulk.mbps * bulk.seconds));
  for (const [what, r] of Object.entries({ one, many, bulk })) {
    if (r.errors) throw new Error(`${t.name} ${what}: ${r.errors} errors, first: ${r.firstError}`);
  }
  return { one, many, bulk, hopCpuUs, hopCpuPerMbUs };
}

export async function benchProxy(): Promise<Row[]> {
  const fake = await startFake();
  const dataDir = mkdtempSync(join(tmpdir(), 'tapgate-bench-gate-'));
  const gate = await Replica.start({ data_dir: dataDir, listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, clusters: [{ name: 'dev', kubeconfig: fake.info.kubeconfig }], log_level: 'silent' });
  const db = await openDb({ type: 'sqlite', path: join(dataDir, 'tapgate.db') });
  const userCa = await CertificateAuthority.loadOrCreate(db, 'user');
  const tracker = new ConnectionTracker();
  const session = new MfaSession({ issuer: directIssuer(userCa), prompt: silentPrompt, clusters: ['dev'], holdTimeoutMs: 30_000, clock: systemClock, tracker, keygen: generateKeyPair, processName: `bench on ${hostname()}` });
  const proxy = await LocalProxy.start({ clusters: ['dev'], session, upstream: new GateUpstream({ kubeUrl: gate.kubeUrl, caPem: gate.caPem }), tracker, kubeconfigPath: join(dataDir, 'local-kubeconfig.yaml') });
  const local = proxy.localTls;
  const log = pino({ level: 'info' });
  const nginx = nginxAvailable()
    ? await startNginxChain({ upstream: fake.info.url, upstreamCa: fake.info.caPem, upstreamCert: fake.info.clientCertPem, upstreamKey: fake.info.clientKeyPem, serverCert: local.serverCertPem, serverKey: local.serverKeyPem, clientCa: local.caPem, hopCert: local.clientCertPem, hopKey: local.clientKeyPem })
    : undefined;
  if (!nginx) log.warn('nginx is not installed (apt-get install nginx-light): the nginx baseline is left out');
  try {
    const clientTls = { ca: local.caPem, cert: local.clientCertPem, key: local.clientKeyPem };
    const direct = await measure({ name: 'direct', base: fake.info.url, tls: { ca: fake.info.caPem, cert: fake.info.clientCertPem, key: fake.info.clientKeyPem } });
    const ngx = nginx ? await measure({ name: 'nginx chain', base: nginx.url, tls: clientTls, hopsCpu: () => [treeCpuMicros(nginx.pid)] }) : undefined;
    // the local proxy runs in this process (the load generator is a child, so not the whole tree)
    const tap = await measure({ name: 'tapgate', base: `${proxy.url}/k/dev`, tls: clientTls, hopsCpu: () => [processCpuMicros(process.pid), processCpuMicros(gate.child.pid!)],
      profile: PROFILE_DIR ? () => profileTapgate(PROFILE_DIR, gate) : undefined,
    });

    const ratio = (v: number, base?: number) => (base ? ` (${(v / base).toFixed(2)}x)` : '');
    const rows: Row[] = [];
    const add = (name: string, unit: string, pick: (m: Measured) => number, goal?: (d: number, n?: number) => string) => {
      const d = pick(direct);
      const n = ngx && pick(ngx);
      const v = pick(tap);
      rows.push({ name: `${name}: direct`, value: d, unit });
      if (n !== undefined) rows.push({ name: `${name}: nginx chain`, value: n, unit, baseline: `direct${ratio(n, d)}` });
      rows.push({ name: `${name}: tapgate chain`, value: v, unit, baseline: `direct${ratio(v, d)}${n !== undefined ? `, nginx${ratio(v, n)}` : ''}`, goal: goal?.(d, n) });
    };
    add('p50 latency, 1 client', 'µs', (m) => m.one.p50Us, (d) => `added ≤ 1000 µs: +${Math.round(tap.one.p50Us - d)} µs`);
    add('p99 latency, 1 client', 'µs', (m) => m.one.p99Us);
    add('req/s, 1 client', 'req/s', (m) => m.one.rps);
    add('p50 latency, 32 clients', 'µs', (m) => m.many.p50Us);
    add('p99 latency, 32 clients', 'µs', (m) => m.many.p99Us);
    add('req/s, 32 clients', 'req/s', (m) => m.many.rps, (_d, n) => (n ? `≥ 0.8x nginx: ${(tap.many.rps / n).toFixed(2)}x` : ''));
    const sum = (m: Measured) => m.hopCpuUs.reduce((a, b) => a + b, 0);
    if (ngx) rows.push({ name: 'CPU per small GET at 32 clients, both hops: nginx chain', value: sum(ngx), unit: 'µs' });
    rows.push({ name: 'CPU per small GET at 32 clients, both hops: tapgate chain', value: sum(tap), unit: 'µs', baseline: ngx ? `nginx${ratio(sum(tap), sum(ngx))}` : undefined });
    rows.push({ name: 'CPU per small GET at 32 clients: local proxy', value: tap.hopCpuUs[0]!, unit: 'µs' });
    rows.push({ name: 'CPU per small GET at 32 clients: gate', value: tap.hopCpuUs[1]!, unit: 'µs' });
    const perMb = (m: Measured) => m.hopCpuPerMbUs.reduce((a, b) => a + b, 0);
    if (ngx) rows.push({ name: 'CPU per MB of bulk reads, both hops: nginx chain', value: perMb(ngx), unit: 'µs' });
    rows.push({ name: 'CPU per MB of bulk reads, both hops: tapgate chain', value: perMb(tap), unit: 'µs', baseline: ngx ? `nginx${ratio(perMb(tap), perMb(ngx))}` : undefined });
    rows.push({ name: 'CPU per MB of bulk reads: local proxy', value: tap.hopCpuPerMbUs[0]!, unit: 'µs' });
    rows.push({ name: 'CPU per MB of bulk reads: gate', value: tap.hopCpuPerMbUs[1]!, unit: 'µs' });
    add('bulk GET (4 MiB)', 'MB/s', (m) => m.bulk.mbps, (_d, n) => (n ? `≥ 0.8x nginx: ${(tap.bulk.mbps / n).toFixed(2)}x` : ''));
    const mem = process.memoryUsage();
    rows.push({ name: 'local proxy process RSS after the run', value: mem.rss / 1e6, unit: 'MB' });
    return rows;
  } finally {
    await proxy.close();
    await nginx?.stop();
    await gate.stop();
    await db.close();
    fake.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchProxy());
  process.exit(0);
}
