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
import { AuditLog } from '../src/audit/audit';
import { parseRole, RoleRepo } from '../src/auth/roles';
import { parseConfig } from '../src/config/config';
import { systemClock } from '../src/core/clock';
import { Locks } from '../src/locks/locks';
import { CertificateAuthority, generateKeyPair } from '../src/pki/ca';
import { startKubeListener } from '../src/server/kube/listener';
import { createMetrics } from '../src/server/metrics';
import { openDb } from '../src/store/open';
import { startFakeApiServer } from '../test/fake-apiserver/index';
import { runLoad, type LoadSpec } from './load';
import type { Row } from './run';

const SMALL = '/api/v1/namespaces/default/configmaps/small';
const BULK = '/api/v1/namespaces/default/configmaps/bulk';

export async function benchProxyGate(): Promise<Row[]> {
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
    // warm both paths (TLS sessions, JIT) before measuring
    await load(direct, SMALL, 4);
    await load(gate, SMALL, 4);
    for (const c of [1, 32]) {
      const d = await load(direct, SMALL, c);
      const g = await load(gate, SMALL, c);
      if (g.errors) throw new Error(`gate: ${g.errors} errors, first: ${g.firstError}`);
      rows.push(
        { name: `small GET direct, ${c} client(s)`, value: d.rps, unit: 'req/s', baseline: `p50 ${Math.round(d.p50Us)} µs, p99 ${Math.round(d.p99Us)} µs` },
        {
          name: `small GET via gate listener, ${c} client(s)`,
          value: g.rps,
          unit: 'req/s',
          baseline: `${(g.rps / d.rps).toFixed(2)}x direct; p50 ${Math.round(g.p50Us)} µs (+${Math.round(g.p50Us - d.p50Us)}), p99 ${Math.round(g.p99Us)} µs`,
        },
        { name: `gate CPU per small GET, ${c} client(s)`, value: g.cpuUsPerReq - d.cpuUsPerReq, unit: 'µs', baseline: `server process ${Math.round(g.cpuUsPerReq)} µs/req via gate vs ${Math.round(d.cpuUsPerReq)} direct` },
      );
    }
    const db1 = await load(direct, BULK, 4, true);
    const gb = await load(gate, BULK, 4, true);
    rows.push(
      { name: 'bulk read direct, 4 clients', value: db1.mbps, unit: 'MB/s' },
      { name: 'bulk read via gate listener, 4 clients', value: gb.mbps, unit: 'MB/s', baseline: `${(gb.mbps / db1.mbps).toFixed(2)}x direct` },
    );
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
