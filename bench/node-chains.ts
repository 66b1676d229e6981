/**
 * Two-hop Node chains with nothing of Tapgate in them, to read the tapgate chain against:
 * client -> hop 1 (verifies the local client cert) -> hop 2 (mTLS) -> API server, the same
 * certificates as the nginx and tapgate chains, one process per hop (like the local proxy and the
 * gate). Three kinds of hop:
 *
 *   pipe  decrypts and re-encrypts bytes, no HTTP at all: one upstream connection per client
 *         connection. The floor: a proxy that reads requests can only cost more.
 *   lean  reads each request head from the TLS socket itself (bodyless GETs only: this is a bench
 *         hop, not a parser to put in front of anything) and writes the answer head itself, with an
 *         undici dispatch upstream: what a hand-rolled HTTP/1.1 path in Node could reach.
 *   http  node:http server + undici dispatch (the shape of Tapgate's hops, without its checks).
 *
 * startNodeChain(kind, opts) forks this file once per hop and sends each its hop over IPC.
 */
import { fork } from 'node:child_process';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Pool, type Dispatcher } from 'undici';
import type { ChainCerts } from './nginx';

export type HopKind = 'pipe' | 'lean' | 'http';

export interface NodeChain {
  url: string;
  pids: number[];
  stop(): void;
}

interface Hop {
  kind: HopKind;
  cert: string;
  key: string;
  clientCa: string;
  to: { port: number; ca: string; cert: string; key: string };
}

const SKIP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding']);

/** undici answer -> node:http response */
class HttpRelay implements Dispatcher.DispatchHandler {
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

/** undici answer -> bytes on the client's TLS socket, head written by hand, chunked when unsized */
class LeanRelay implements Dispatcher.DispatchHandler {
  private chunked = false;
  constructor(
    private readonly socket: TLSSocket,
    private readonly done: () => void,
  ) {}
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
    for (const k in headers) {
      if (SKIP.has(k)) continue;
      const v = headers[k]!;
      if (Array.isArray(v)) for (const one of v) head += `${k}: ${one}\r\n`;
      else head += `${k}: ${v}\r\n`;
    }
    this.chunked = headers['content-length'] === undefined;
    this.socket.cork();
    this.socket.write(`${head}${this.chunked ? 'transfer-encoding: chunked\r\n' : ''}\r\n`, 'latin1');
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.chunked) this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    this.socket.write(chunk);
    if (this.chunked) this.socket.write('\r\n', 'latin1');
    // the head and the first chunk leave in one write; the rest as it comes
    if (this.socket.writableCorked) this.socket.uncork();
  }
  onResponseEnd(): void {
    if (this.chunked) this.socket.write('0\r\n\r\n', 'latin1');
    if (this.socket.writableCorked) this.socket.uncork();
    this.done();
  }
  onResponseError(): void {
    this.socket.destroy();
  }
}

function leanConnection(socket: TLSSocket, pool: Pool): void {
  let buffered: Buffer | undefined;
  let busy = false;
  const next = (): void => {
    if (busy || !buffered) return;
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = buffered.toString('latin1', 0, end).split('\r\n');
    buffered = end + 4 === buffered.length ? undefined : buffered.subarray(end + 4);
    const [method, path] = lines[0]!.split(' ');
    const headers: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      if (!SKIP.has(name.toLowerCase())) headers.push(name, line.slice(colon + 1).trim());
    }
    busy = true;
    pool.dispatch(
      { method: method as Dispatcher.HttpMethod, path: path!, headers, body: null },
      new LeanRelay(socket, () => {
        busy = false;
        next();
      }),
    );
  };
  socket.on('data', (d: Buffer) => {
    buffered = buffered ? Buffer.concat([buffered, d]) : d;
    next();
  });
  socket.on('error', () => socket.destroy());
}

async function serveHop(hop: Hop): Promise<number> {
  const upstreamContext = tls.createSecureContext({ ca: hop.to.ca, cert: hop.to.cert, key: hop.to.key });
  const pool =
    hop.kind === 'pipe'
      ? undefined
      : new Pool(`https://127.0.0.1:${hop.to.port}`, { connections: null, connect: { secureContext: upstreamContext, servername: 'localhost', checkServerIdentity: () => undefined } });
  const h1 = pool
    ? http.createServer((req, res) => {
        const headers: string[] = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) if (!SKIP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
        pool.dispatch({ method: req.method as Dispatcher.HttpMethod, path: req.url!, headers, body: null }, new HttpRelay(res));
      })
    : undefined;
  const server = tls.createServer({ cert: hop.cert, key: hop.key, ca: hop.clientCa, requestCert: true, rejectUnauthorized: true, noDelay: true }, (down: TLSSocket) => {
    if (hop.kind === 'lean') return leanConnection(down, pool!);
    if (hop.kind === 'http') return void h1!.emit('connection', down);
    const up = tls.connect({ host: '127.0.0.1', port: hop.to.port, secureContext: upstreamContext, servername: 'localhost', checkServerIdentity: () => undefined });
    up.setNoDelay(true);
    down.pipe(up).pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function startHop(hop: Hop): Promise<{ port: number; stop: () => void; pid: number }> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (port) => resolve({ port: port as number, pid: child.pid!, stop: () => child.kill('SIGTERM') }));
    child.once('exit', (code) => reject(new Error(`a Node ${hop.kind} hop exited with ${code}`)));
    child.send(hop);
  });
}

export async function startNodeChain(kind: HopKind, o: ChainCerts): Promise<NodeChain> {
  const listen = { kind, cert: o.serverCert, key: o.serverKey, clientCa: o.clientCa };
  const hop2 = await startHop({ ...listen, to: { port: Number(new URL(o.upstream).port), ca: o.upstreamCa, cert: o.upstreamCert, key: o.upstreamKey } });
  // hop 1 trusts hop 2's certificate as the local server certificate it is
  const hop1 = await startHop({ ...listen, to: { port: hop2.port, ca: o.clientCa, cert: o.hopCert, key: o.hopKey } }).catch((e: unknown) => {
    hop2.stop();
    throw e;
  });
  return {
    url: `https://127.0.0.1:${hop1.port}`,
    pids: [hop1.pid, hop2.pid],
    stop: () => {
      hop1.stop();
      hop2.stop();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.once('message', (hop) => void serveHop(hop as Hop).then((port) => process.send!(port)));
  process.on('disconnect', () => process.exit(0));
}
