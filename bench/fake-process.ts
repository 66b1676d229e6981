/**
 * The fake API server in its own process for benchmarks, so it does not share an event loop
 * with the proxies being measured. Prints one JSON line with how to reach it; stops on SIGTERM.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeApiServer } from '../test/fake-apiserver';

export const BULK_BYTES = 4 * 1024 * 1024;

const fake = await startFakeApiServer({ logIntervalMs: 0, maxRecordedRequests: 0 });
// One large object for the bulk-throughput rows.
fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bulk', namespace: 'default' }, data: { blob: 'x'.repeat(BULK_BYTES) } });
const kubeconfig = await fake.writeKubeconfig(join(mkdtempSync(join(tmpdir(), 'tapgate-bench-fake-')), 'kubeconfig'));
process.stdout.write(`${JSON.stringify({ url: fake.url, caPem: fake.caPem, clientCertPem: fake.clientCertPem, clientKeyPem: fake.clientKeyPem, kubeconfig })}\n`);
process.on('SIGTERM', () => void fake.close().then(() => process.exit(0)));
