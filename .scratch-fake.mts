import http2 from 'node:http2';
import { Agent, request } from 'undici';
import { startFakeApiServer } from './test/fake-apiserver/index';
const fake = await startFakeApiServer({ maxRecordedRequests: 0, logIntervalMs: 0 });
fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'small', namespace: 'default' }, data: { k: 'v' } });
const path = '/api/v1/namespaces/default/configmaps/small';
const N = 4000;
async function measure(name: string, one: () => Promise<void>) {
  let done = 0;
  const loop = async () => { while (done < N) { done++; await one(); } };
  await Promise.all([loop(), loop(), loop(), loop()]);
  done = 0;
  const c0 = process.cpuUsage(); const t0 = Date.now();
  await Promise.all([loop(), loop(), loop(), loop()]);
  const c = process.cpuUsage(c0);
  console.log(name, 'cpu µs/req', ((c.user + c.system) / N).toFixed(0), 'req/s', (N / ((Date.now() - t0) / 1000)).toFixed(0));
}
const dispatcher = new Agent({ connections: 4, connect: { ca: fake.caPem, cert: fake.clientCertPem, key: fake.clientKeyPem } });
await measure('h1 undici', async () => { const r = await request(fake.url + path, { dispatcher }); await r.body.arrayBuffer(); });
const s = http2.connect(fake.url, { ca: fake.caPem, cert: fake.clientCertPem, key: fake.clientKeyPem });
await measure('h2 session', () => new Promise<void>((resolve, reject) => { const r = s.request({ ':path': path }); r.on('data', () => {}); r.on('end', resolve); r.on('error', reject); r.end(); }));
s.close(); await fake.close(); process.exit(0);
