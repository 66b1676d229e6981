/**
 * A stand-in for the gate in client unit tests: an mTLS HTTP/2 listener that answers kube-like
 * requests, refuses lapsed certificates with 401 MFARequired as the real kube listener does,
 * and an MFA issuer whose "tap" the test performs by calling tap().
 */
import http2 from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from '../../src/pki/ca';
import type { MfaIssuer } from '../../src/client/mfa-session';

export interface StubGate {
  kubeUrl: string;
  caPem: string;
  issuer: MfaIssuer & { requests: { id: string; clusters: string[]; ttlMs?: number; requester: unknown }[]; tap(id?: string): Promise<void>; cancelled: string[] };
  /** requests seen: method path */
  seen: string[];
  /** the HTTP version each of those came in on ('1.1' or '2.0') */
  versions: string[];
  /** writes one line to every open watch */
  emit(line: string): void;
  /** number of open watches */
  watches(): number;
  /** answers the client side cut before they were complete */
  cutShort(): number;
  intervalMs: number;
  /** refuse every request with 401 MFARequired until the next tap (the gate's view differs from the client's clock) */
  refuseUntilTap: boolean;
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

export async function startStubGate(opts: { intervalMs?: number } = {}): Promise<StubGate> {
  const hostCa = await CertificateAuthority.createInMemory('host');
  const userCa = await CertificateAuthority.createInMemory('user');
  const server = await hostCa.issueServerCert({ hosts: ['127.0.0.1', 'localhost'], ttlMs: 3_600_000 });
  const seen: string[] = [];
  const versions: string[] = [];
  let cut = 0;
  const watchers = new Set<http2.Http2ServerResponse | import('node:http').ServerResponse>();
  const gate = http2.createSecureServer({ key: server.keyPem, cert: server.certPem, ca: userCa.certPem, requestCert: true, rejectUnauthorized: true, allowHTTP1: true });

  const lapsed = (socket: TLSSocket) => {
    const cert = new X509Certificate(socket.getPeerCertificate(true).raw);
    return stub.refuseUntilTap || Date.parse(cert.validTo) <= Date.now();
  };

  gate.on('request', (req, res) => {
    const url = req.url;
    seen.push(`${req.method} ${url}`);
    versions.push(req.httpVersion);
    res.once('close', () => {
      if (!res.writableFinished) cut++;
    });
    if (lapsed(req.socket as TLSSocket)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(status(401, 'MFARequired', 'your MFA certificate has expired; tap your security key again'));
      return;
    }
    if (url.includes('/locked')) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(status(403, 'Forbidden', 'user alice is locked: on leave'));
      return;
    }
    if (url.includes('watch=true')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      (res as { flushHeaders?: () => void }).flushHeaders?.();
      watchers.add(res);
      res.on('close', () => watchers.delete(res));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (url.includes('/bulk')) {
        const size = Number(new URL(url, 'https://x').searchParams.get('size') ?? 1_000_000);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
        // written with backpressure, as an API server streams a large list
        const chunk = Buffer.alloc(64 * 1024, 7);
        let left = size;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (left === 0) res.end(chunk.subarray(0, n));
            else if (!res.write(chunk.subarray(0, n))) return void res.once('drain', pump);
          }
        };
        pump();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, path: url, body, impersonate: req.headers['impersonate-user'] ?? null }));
    });
  });

  gate.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    seen.push(`UPGRADE ${req.method} ${req.url}`);
    if (lapsed(socket as TLSSocket)) {
      const body = status(401, 'MFARequired', 'tap again');
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    if (req.url?.includes('notupgradable')) {
      const body = status(400, 'BadRequest', 'upgrade refused by the API server');
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`);
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    socket.on('error', () => {});
  });

  await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
  const port = (gate.address() as AddressInfo).port;

  const pending = new Map<string, { resolve: () => void; publicKeyPem: string; clusters: string[]; ttlMs?: number }>();
  const granted = new Map<string, { certPem: string; notAfter: number; ttlMs: number; cappedBy: string }>();
  let seq = 0;
  const stub: StubGate = {
    kubeUrl: `https://127.0.0.1:${port}`,
    caPem: hostCa.certPem,
    seen,
    versions,
    intervalMs: opts.intervalMs ?? 60_000,
    refuseUntilTap: false,
    emit(line) {
      for (const w of watchers) (w as { write(s: string): boolean }).write(`${line}\n`);
    },
    watches: () => watchers.size,
    cutShort: () => cut,
    issuer: {
      requests: [],
      cancelled: [],
      async createMfaRequest(r) {
        const id = `mfa-${++seq}`;
        stub.issuer.requests.push({ id, clusters: r.clusters, ttlMs: r.ttlMs, requester: r.requester });
        let resolve!: () => void;
        const done = new Promise<void>((res) => (resolve = res));
        pending.set(id, { resolve, publicKeyPem: r.publicKeyPem, clusters: r.clusters, ttlMs: r.ttlMs });
        (pending.get(id) as unknown as { done: Promise<void> }).done = done;
        return { id, tapUrl: `https://stub.invalid/tap/${id}`, expiresAt: Date.now() + 300_000 };
      },
      async waitMfaRequest(id, o = {}) {
        const p = pending.get(id) as unknown as { done: Promise<void> };
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(Object.assign(new Error('aborted'), { code: 'aborted' }));
          if (o.signal?.aborted) return onAbort();
          o.signal?.addEventListener('abort', onAbort, { once: true });
          void p.done.then(resolve);
        });
        return granted.get(id)!;
      },
      async cancelMfaRequest(id) {
        stub.issuer.cancelled.push(id);
      },
      async tap(id) {
        const key = id ?? [...pending.keys()].pop()!;
        const p = pending.get(key)!;
        const ttlMs = Math.min(p.ttlMs ?? Infinity, stub.intervalMs);
        const cert = await userCa.issue({
          publicKeyPem: p.publicKeyPem,
          ttlMs,
          identity: { usage: 'mfa', kind: 'user', name: 'alice', roles: ['access'], kubeUsers: [], kubeGroups: [], clusters: p.clusters },
        });
        granted.set(key, { certPem: cert.certPem, notAfter: cert.notAfter, ttlMs, cappedBy: ttlMs === p.ttlMs ? 'requested' : 'interval' });
        pending.delete(key);
        stub.refuseUntilTap = false;
        p.resolve();
      },
    },
    close: () =>
      new Promise<void>((r) => {
        for (const w of watchers) w.destroy();
        gate.close(() => r());
      }),
  };
  return stub;
}
