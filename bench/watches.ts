/**
 * The watch table, the k9s case: BENCH_WATCHES (default 500) watches on one HTTP/2 connection,
 * directly to the fake API server, through the nginx two-hop chain (one worker; HTTP/2 from the
 * client, HTTP/1.1 behind it) and through the tapgate chain (local proxy -> gate -> API server),
 * measured in the same run:
 *   - memory each open watch costs each hop (RSS before and after opening),
 *   - how long one change takes to reach every watch (a configmap created, median of the rounds).
 * The watches run in a process of their own (watch-load.ts); the local proxy runs in this one.
 */
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { fullGc } from '../test/helpers/gc';
import { nginxAvailable, startNginxChain, type NginxChain } from './nginx';
import { median } from './load';
import { rssOf, treeRssOf } from './proc-stats';
import type { Row } from './row';
import type { Replica } from '../test/helpers/replica';
import { startTapgateChain, type FakeInfo } from './tapgate-chain';
import { startWatchLoad } from './watch-load';

const WATCHES = Number(process.env.BENCH_WATCHES ?? 500);
const EVENTS = Number(process.env.BENCH_WATCH_EVENTS ?? 7);
const NAMESPACE = 'watch-bench';
const WATCH_PATH = `/api/v1/namespaces/${NAMESPACE}/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`;

/**
 * Waits a second, then collects garbage in the local proxy (this process) and the gate before a
 * memory reading: otherwise a collection of older garbage (the proxy section runs before this one
 * in the same process) while the watches open can make RSS fall as they open.
 */
const settle = async (gate: Replica) => {
  // twice: V8 gives freed pages back to the system a moment after a full collection, not in it
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setTimeout(r, 500));
    fullGc();
    await gate.gc();
  }
};

/** Writes to the fake API server directly (not through a chain under measurement). */
function apiWriter(fake: FakeInfo): { post: (path: string, body: object) => Promise<void>; close: () => Promise<void> } {
  const dispatcher = new Agent({ connect: { ca: fake.caPem, cert: fake.clientCertPem, key: fake.clientKeyPem } });
  return {
    async post(path, body) {
      const res = await request(fake.url + path, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`POST ${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    },
    close: () => dispatcher.close(),
  };
}

export async function benchWatches(): Promise<Row[]> {
  const chain = await startTapgateChain();
  const { fake, gate, proxy, clientTls: localTls } = chain;
  const api = apiWriter(fake.info);
  let created = 0;
  let nginx: NginxChain | undefined;
  try {
    await api.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    if (nginxAvailable()) nginx = await startNginxChain({ ...chain.certs, processes: 1, http2: true });
    /** each target: where its watches go, and the resident memory of each of its hops */
    const targets: { name: string; url: string; tls: typeof localTls; hops: [string, () => number][] }[] = [
      { name: 'direct', url: fake.info.url + WATCH_PATH, tls: { ca: fake.info.caPem, cert: fake.info.clientCertPem, key: fake.info.clientKeyPem }, hops: [] },
      ...(nginx ? [{ name: 'nginx chain, one worker', url: nginx.url + WATCH_PATH, tls: localTls, hops: [['nginx, both hops', () => treeRssOf(nginx!.pids[0]!)]] as [string, () => number][] }] : []),
      { name: 'tapgate chain', url: `${proxy.url}/k/dev${WATCH_PATH}`, tls: localTls, hops: [['local proxy', () => rssOf(process.pid)], ['gate', () => rssOf(gate.child.pid!)]] },
    ];
    const rows: Row[] = [{ name: 'watches held open, one HTTP/2 connection', value: WATCHES, unit: 'watches' }];
    const fanOut = new Map<string, number>();
    for (const t of targets) {
      // warm: one watch, one event (the MFA certificate, the gate's upstream sessions)
      const warm = await startWatchLoad({ url: t.url, tls: t.tls, count: 1 });
      await api.post(`/api/v1/namespaces/${NAMESPACE}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `wb-${++created}` } });
      await warm.seen(1);
      warm.stop();
      await settle(gate);
      const before = t.hops.map(([, rss]) => rss());
      const load = await startWatchLoad({ url: t.url, tls: t.tls, count: WATCHES }).catch((e: unknown) => {
        throw new Error(`${t.name}: ${(e as Error).message}`);
      });
      await settle(gate);
      const after = t.hops.map(([, rss]) => rss());
      const times: number[] = [];
      try {
        for (let k = 1; k <= EVENTS; k++) {
          const t0 = process.hrtime.bigint();
          await api.post(`/api/v1/namespaces/${NAMESPACE}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `wb-${++created}` }, data: { round: String(k) } });
          await load.seen(k);
          times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      } finally {
        load.stop();
      }
      fanOut.set(t.name, median(times));
      for (const [i, [hop]] of t.hops.entries()) {
        rows.push({ name: `memory per open watch, ${t.name}: ${hop} (RSS)`, value: (after[i]! - before[i]!) / WATCHES / 1024, unit: 'KiB' });
      }
      await settle(gate);
    }
    const direct = fanOut.get('direct')!;
    const nginxMs = fanOut.get('nginx chain, one worker');
    for (const [name, ms] of fanOut) {
      const vsNginx = nginxMs !== undefined && name === 'tapgate chain' ? `, nginx ${(ms / nginxMs).toFixed(2)}x` : '';
      rows.push({ name: `one change reaches all ${WATCHES} watches (median of ${EVENTS}): ${name}`, value: ms, unit: 'ms', baseline: name === 'direct' ? '' : `direct +${(ms - direct).toFixed(1)} ms${vsNginx}` });
    }
    return rows;
  } finally {
    await api.close();
    await nginx?.stop();
    await chain.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchWatches());
  process.exit(0);
}
