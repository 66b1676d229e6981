/**
 * The gate kube listener on its own (one hop): small GETs and a bulk read, directly against the
 * fake API server and through the listener, measured in the same run by the out-of-process load
 * generator. The full chain (local proxy + gate) and the nginx baseline are bench/proxy.ts.
 *   node --import tsx bench/proxy-gate.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { AuditLog } from './src/audit/audit';
import { parseRole, RoleRepo } from './src/auth/roles';
import { parseConfig } from './src/config/config';
import { systemClock } from './src/core/clock';
import { Locks } from './src/locks/locks';
import { CertificateAuthority, generateKeyPair } from './src/pki/ca';
import { startKubeListener } from './src/server/kube/listener';
import { createMetrics } from './src/server/metrics';
import { openDb } from './src/store/open';
import { startFakeApiServer } from './test/fake-apiserver/index';
import { runLoad, type LoadSpec } from './bench/load';
import type { Row } from './bench/run';

const SMALL = '/api/v1/namespaces/default/configmaps/small';
const BULK = '/api/v1/namespaces/default/configmaps/bulk';

export async function benchProxyGate(): Promise<Row[]> {
  const inspector = await import('node:inspector/promises');
  const session = new inspector.Session();
  session.connect();
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-bench-gate-'));
  const fake = await startFakeApiServer({ maxRecordedRequests: 0, logIntervalMs: 0 });
  fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'small', namespace: 'default' }, data: { k: 'v' } });
  fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bulk', namespace: 'default' }, data: { blob: 'x'.repeat(900_000) } });
  const upstreamKc = await fake.writeKubeconfig(join(dir, 'upstream.yaml'));
  const db = await openDb({ type: 'sqlite', path: join(dir, 'tapgate.db') });
  const log = pino({ level: 'silent' });
  const audit = new AuditLog(db, systemClock);
  const locks = new Locks(db, audit, systemClock);
  await locks.start();
  const roles = new RoleRepo(db);
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'dev' }, spec: { kubernetes_groups: ['developers'], kube_clusters: ['dev'] } }));
  const cas = {
    user: await CertificateAuthority.loadOrCreate(db, 'user'),
    bot: await CertificateAuthority.loadOrCreate(db, 'bot'),
    host: await CertificateAuthority.loadOrCreate(db, 'host'),
  };
  const server = await cas.host.issueServerCert({ hosts: ['127.0.0.1'], ttlMs: 3_600_000 });
  const config = parseConfig({ data_dir: dir, listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, clusters: [{ name: 'dev', kubeconfig: upstreamKc }], log_level: 'silent' });
  const kube = await startKubeListener({ config, db, clock: systemClock, log, audit, locks, roles, cas, tls: { certPem: server.certPem, keyPem: server.keyPem!, caPem: cas.host.certPem }, metrics: createMetrics() });
  const keys = await generateKeyPair();
  const now = Date.now();
  const mfa = await cas.user.issue({
    publicKeyPem: keys.publicKeyPem,
    identity: { usage: 'mfa', kind: 'user', name: 'bench', roles: ['dev'], kubeUsers: [], kubeGroups: [], clusters: ['dev'], mfaVerifiedAt: now, loginExpires: now + 3_600_000 },
    ttlMs: 3_600_000,
  });

  const direct = { base: fake.url, tls: { ca: fake.caPem, cert: fake.clientCertPem, key: fake.clientKeyPem } };
  const gate = { base: `${kube.url}/k/dev`, tls: { ca: cas.host.certPem, cert: mfa.certPem, key: keys.privateKeyPem } };
  // CPU time of this process (fake API server + gate) per request: robust on a shared machine, where wall-clock rates swing.
  const load = async (t: typeof direct, path: string, concurrency: number, bulk = false) => {
    const spec: LoadSpec = { url: t.base + path, concurrency, seconds: bulk ? 3 : 4, maxRequests: 1_000_000, tls: t.tls, bulk };
    const before = process.cpuUsage();
    const r = await runLoad(spec);
    const cpu = process.cpuUsage(before);
    return { ...r, cpuUsPerReq: (cpu.user + cpu.system) / Math.max(1, r.requests) };
  };

  const rows: Row[] = [];
  try {
    const http2 = await import('node:http2');
    const { Agent, request } = await import('undici');
    const path = SMALL; const N = 4000;
    async function measure(name: string, one: () => Promise<void>, prof = false) {
      let done = 0;
      const loop = async () => { while (done < N) { done++; await one(); } };
      await Promise.all(Array.from({ length: Number(process.env.C ?? 4) }, loop));
      done = 0;
      if (prof) { await session.post('Profiler.enable'); await session.post('Profiler.setSamplingInterval', { interval: 200 }); await session.post('Profiler.start'); }
      const c0 = process.cpuUsage(); const t0 = Date.now();
      await Promise.all(Array.from({ length: Number(process.env.C ?? 4) }, loop));
      const c = process.cpuUsage(c0);
      if (prof) { const { profile } = await session.post('Profiler.stop'); (await import('node:fs')).writeFileSync('/tmp/kl/gate.cpuprofile', JSON.stringify(profile)); }
      console.log(name, 'cpu µs/req', ((c.user + c.system) / N).toFixed(0), 'req/s', (N / ((Date.now() - t0) / 1000)).toFixed(0));
    }
    const dd = new Agent({ connections: 64, connect: direct.tls });
    await measure('direct h1', async () => { const r = await request(direct.base + path, { dispatcher: dd }); await r.body.arrayBuffer(); });
    const gd = new Agent({ connections: 64, connect: gate.tls });
    await measure('gate h1', async () => { const r = await request(gate.base + path, { dispatcher: gd }); await r.body.arrayBuffer(); });
    const s = http2.connect(kube.url, gate.tls);
    await measure('gate h2', () => new Promise<void>((resolve, reject) => { const r = s.request({ ':path': '/k/dev' + path }); r.on('data', () => {}); r.on('end', resolve); r.on('error', reject); r.end(); }));
    s.close();
  } finally {
    await kube.close();
    await fake.close();
    locks.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await benchProxyGate();
  console.table(rows.map((r) => ({ measure: r.name, value: Math.round(r.value).toLocaleString('en-US'), unit: r.unit, baseline: r.baseline ?? '' })));
  process.exit(0);
}
