import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { AuditLog } from '../../src/audit/audit';
import { parseRole, RoleRepo } from '../../src/auth/roles';
import { parseConfig } from '../../src/config/config';
import { systemClock } from '../../src/core/clock';
import { Locks } from '../../src/locks/locks';
import { CertificateAuthority, generateKeyPair } from '../../src/pki/ca';
import { startKubeListener } from '../../src/server/kube/listener';
import { createMetrics } from '../../src/server/metrics';
import { openDb } from '../../src/store/open';
import { startFakeApiServer } from '../fake-apiserver/index';
import { runLoad } from '../../bench/load';
import { ConnectionTracker } from '../../src/client/connection-tracker';
import { GateUpstream } from '../../src/client/gate-upstream';
import { LocalProxy } from '../../src/client/local-proxy';
import { MfaSession, type MfaIssuer } from '../../src/client/mfa-session';

const SMALL = '/api/v1/namespaces/default/configmaps/small';
const BULK = '/api/v1/namespaces/default/configmaps/bulk';
const dir = mkdtempSync(join(tmpdir(), 'scratch-'));
const fake = await startFakeApiServer({ maxRecordedRequests: 0, logIntervalMs: 0 });
fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'small', namespace: 'default' }, data: { k: 'v' } });
fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bulk', namespace: 'default' }, data: { blob: 'x'.repeat(900_000) } });
const upstreamKc = await fake.writeKubeconfig(join(dir, 'upstream.yaml'));
const db = await openDb({ type: 'sqlite', path: join(dir, 'tapgate.db') });
const log = pino({ level: process.env.LVL ?? 'silent' }, pino.destination(2));
const audit = new AuditLog(db, systemClock);
const locks = new Locks(db, audit, systemClock);
await locks.start();
const roles = new RoleRepo(db);
await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'dev' }, spec: { kube_clusters: ['dev'] } }));
const cas = { user: await CertificateAuthority.loadOrCreate(db, 'user'), bot: await CertificateAuthority.loadOrCreate(db, 'bot'), host: await CertificateAuthority.loadOrCreate(db, 'host') };
const server = await cas.host.issueServerCert({ hosts: ['127.0.0.1'], ttlMs: 3_600_000 });
const config = parseConfig({ data_dir: dir, listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, clusters: [{ name: 'dev', kubeconfig: upstreamKc }], log_level: 'silent' });
const kube = await startKubeListener({ config, db, clock: systemClock, log, audit, locks, roles, cas, tls: { certPem: server.certPem, keyPem: server.keyPem!, caPem: cas.host.certPem }, metrics: createMetrics() });
const keys = await generateKeyPair();
const now = Date.now();
const mfa = await cas.user.issue({ publicKeyPem: keys.publicKeyPem, identity: { usage: 'mfa', kind: 'user', name: 'bench', roles: ['dev'], kubeUsers: [], kubeGroups: [], clusters: ['dev'], mfaVerifiedAt: now, loginExpires: now + 3_600_000 }, ttlMs: 3_600_000 });
const issuer: MfaIssuer = {
  createMfaRequest: async () => ({ id: 'x', tapUrl: 'https://x/tap', expiresAt: Date.now() + 60000 }),
  waitMfaRequest: async () => ({ certPem: mfa.certPem, notAfter: mfa.notAfter, ttlMs: 3_600_000, cappedBy: 'requested' }),
  cancelMfaRequest: async () => ({}),
};
const tracker = new ConnectionTracker();
const session = new MfaSession({ issuer, prompt: { show() {}, close() {} }, clusters: ['dev'], holdTimeoutMs: 10000, clock: systemClock, tracker, keygen: async () => keys });
const upstream = new GateUpstream({ kubeUrl: kube.url, caPem: cas.host.certPem });
const proxy = await LocalProxy.start({ clusters: ['dev'], session, upstream, tracker, kubeconfigPath: join(dir, 'kc.yaml') });
await session.acquire();
const t = proxy.localTls;
const paths = {
  direct: { base: fake.url, tls: { ca: fake.caPem, cert: fake.clientCertPem, key: fake.clientKeyPem } },
  gate: { base: `${kube.url}/k/dev`, tls: { ca: cas.host.certPem, cert: mfa.certPem, key: keys.privateKeyPem } },
  chain: { base: `${proxy.url}/k/dev`, tls: { ca: t.caPem, cert: t.clientCertPem, key: t.clientKeyPem } },
};
const which = (process.argv[2] ?? 'direct,gate,chain').split(',') as (keyof typeof paths)[];
for (const w of which) await runLoad({ url: paths[w].base + SMALL, concurrency: 4, seconds: 2, maxRequests: 1e6, tls: paths[w].tls });
for (const c of [1, 32]) {
  for (const w of which) {
    const before = process.cpuUsage();
    const r = await runLoad({ url: paths[w].base + SMALL, concurrency: c, seconds: 4, maxRequests: 1e6, tls: paths[w].tls });
    const cpu = process.cpuUsage(before);
    console.log(w, c, Math.round(r.rps), 'rps p50', Math.round(r.p50Us), 'p99', Math.round(r.p99Us), 'cpu/req', Math.round((cpu.user + cpu.system) / r.requests), 'errors', r.errors, r.firstError ?? '');
  }
}
for (const w of which) {
  const r = await runLoad({ url: paths[w].base + BULK, concurrency: 4, seconds: 3, maxRequests: 1e6, tls: paths[w].tls, bulk: true });
  console.log(w, 'bulk', Math.round(r.mbps), 'MB/s', r.errors);
}
import http2 from 'node:http2';
if (process.env.H2) {
  const c = http2.connect(proxy.url, { ca: t.caPem, cert: t.clientCertPem, key: t.clientKeyPem });
  for (const conc of [1, 32]) {
    let n = 0, errors = 0; const lat: number[] = [];
    const end = Date.now() + 4000;
    await Promise.all(Array.from({ length: conc }, async () => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        await new Promise<void>((res) => {
          const r = c.request({ ':path': '/k/dev' + SMALL });
          r.on('response', (h) => { if ((h[':status'] as number) >= 400) errors++; });
          r.resume(); r.on('end', () => res()); r.on('error', () => { errors++; res(); });
        });
        lat.push(Number(process.hrtime.bigint() - t0) / 1000); n++;
      }
    }));
    lat.sort((a, b) => a - b);
    console.log('h2 chain', conc, Math.round(n / 4), 'rps p50', Math.round(lat[Math.floor(lat.length / 2)]!), 'errors', errors);
  }
}
process.exit(0);
