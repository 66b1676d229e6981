/**
 * The tapgate chain as the benchmarks run it: the fake API server in its own process, a gate
 * replica (SQLite) in another, and the local kube proxy in this process with an MFA certificate
 * issued straight from the gate's user CA (the benches measure the path, not the tap).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConnectionTracker } from '../src/client/connection-tracker';
import { GateUpstream } from '../src/client/gate-upstream';
import { LocalProxy } from '../src/client/local-proxy';
import { MfaSession, type MfaIssuer } from '../src/client/mfa-session';
import type { TapPrompt } from '../src/client/tap-prompt';
import { systemClock } from '../src/core/clock';
import { CertificateAuthority, generateKeyPair } from '../src/pki/ca';
import { openDb } from '../src/store/open';
import { Replica } from '../test/helpers/replica';
import type { ChainCerts } from './nginx';

export interface FakeInfo {
  url: string;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  kubeconfig: string;
}

export async function startFake(): Promise<{ info: FakeInfo; pid: number; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fake-process.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
    });
    child.once('exit', (c) => reject(new Error(`fake API server exited with ${c}`)));
  });
  return { info: JSON.parse(line) as FakeInfo, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

/** Issues MFA certificates straight from the gate's user CA. */
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

const silentPrompt: TapPrompt = { show() {}, close() {} };

export interface TapgateChain {
  fake: Awaited<ReturnType<typeof startFake>>;
  gate: Replica;
  proxy: LocalProxy;
  /** the gate's data directory (a scratch directory for the bench's own files too) */
  dataDir: string;
  /** what a client of the local proxy presents (and trusts) */
  clientTls: { ca: string; cert: string; key: string };
  /** the same certificates for the baseline chains (nginx, Node) in front of the same fake */
  certs: ChainCerts;
  stop(): Promise<void>;
}

/** Fake API server ("dev") -> gate -> local proxy, all started and warm. */
export async function startTapgateChain(): Promise<TapgateChain> {
  const fake = await startFake();
  const dataDir = mkdtempSync(join(tmpdir(), 'tapgate-bench-gate-'));
  const gate = await Replica.start({ data_dir: dataDir, listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' }, clusters: [{ name: 'dev', kubeconfig: fake.info.kubeconfig }], log_level: 'silent' });
  const db = await openDb({ type: 'sqlite', path: join(dataDir, 'tapgate.db') });
  const userCa = await CertificateAuthority.loadOrCreate(db, 'user');
  const tracker = new ConnectionTracker();
  const session = new MfaSession({ issuer: directIssuer(userCa), prompt: silentPrompt, clusters: ['dev'], holdTimeoutMs: 30_000, clock: systemClock, tracker, keygen: generateKeyPair, processName: `bench on ${hostname()}` });
  const proxy = await LocalProxy.start({ clusters: ['dev'], session, upstream: new GateUpstream({ kubeUrl: gate.kubeUrl, caPem: gate.caPem }), tracker, kubeconfigPath: join(dataDir, 'local-kubeconfig.yaml') });
  const local = proxy.localTls;
  return {
    fake,
    gate,
    proxy,
    dataDir,
    clientTls: { ca: local.caPem, cert: local.clientCertPem, key: local.clientKeyPem },
    certs: {
      upstream: fake.info.url, upstreamCa: fake.info.caPem, upstreamCert: fake.info.clientCertPem, upstreamKey: fake.info.clientKeyPem,
      serverCert: local.serverCertPem, serverKey: local.serverKeyPem, clientCa: local.caPem, hopCert: local.clientCertPem, hopKey: local.clientKeyPem,
    },
    async stop() {
      await proxy.close();
      await gate.stop();
      await db.close();
      fake.stop();
    },
  };
}
