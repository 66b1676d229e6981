/**
 * The floor for one Node hop: a TLS HTTP/1.1 server that sends every request to the fake API
 * server over an undici keep-alive pool (a dispatch handler, no checks, no logging): a hop of the
 * tapgate chain with nothing of Tapgate's own in it. Prints its CPU per small GET at 32 clients,
 * to read beside the proxy table's per-hop rows (`npm run bench -- proxy node-floor`).
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Pool, type Dispatcher } from 'undici';
import { CertificateAuthority } from '../src/pki/ca';
import { runLoad } from './load';
import { processCpuMicros } from './proc-cpu';
import { startFake } from './proxy';
import type { Row } from './run';

const SKIP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding']);

class Relay implements Dispatcher.DispatchHandler {
  constructor(private readonly res: http.ServerResponse) {}
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    for (const k of SKIP) delete headers[k];
    this.res.writeHead(status, headers);
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.res.write(chunk);
  }
  onResponseEnd(): void {
    this.res.end();
  }
  onResponseError(): void {
    this.res.destroy();
  }
}

export async function benchNodeFloor(): Promise<Row[]> {
  const fake = await startFake();
  const f = fake.info;
  const pool = new Pool(f.url, { connections: null, connect: { secureContext: tls.createSecureContext({ ca: f.caPem, cert: f.clientCertPem, key: f.clientKeyPem }) } });
  const h1 = http.createServer((req, res) => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (!SKIP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    pool.dispatch({ method: req.method as 'GET', path: req.url!, headers, body: null }, new Relay(res));
  });
  const ca = await CertificateAuthority.createInMemory('host');
  const cert = await ca.issueServerCert({ hosts: ['127.0.0.1'], ttlMs: 3_600_000 });
  const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem, noDelay: true }, (s) => h1.emit('connection', s));
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/namespaces/default`;
    const spec = { url, tls: { ca: ca.certPem }, seconds: 4, maxRequests: 60_000 };
    await runLoad({ ...spec, concurrency: 32, seconds: 1 });
    const c0 = processCpuMicros(process.pid);
    const many = await runLoad({ ...spec, concurrency: 32 });
    const cpu = (processCpuMicros(process.pid) - c0) / many.requests;
    if (many.errors) throw new Error(`node floor: ${many.errors} errors, first: ${many.firstError}`);
    return [
      { name: 'minimal Node TLS hop (http.Server + undici dispatch): req/s at 32 clients', value: many.rps, unit: 'req/s' },
      { name: 'minimal Node TLS hop: CPU per small GET at 32 clients', value: cpu, unit: 'µs' },
    ];
  } finally {
    fake.stop();
    server.close();
    await pool.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.table(await benchNodeFloor());
  process.exit(0);
}
