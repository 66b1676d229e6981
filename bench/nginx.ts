/**
 * The baseline chain: two nginx hops with TLS and the same certificates as Tapgate's chain
 * (client -> hop 1 (verifies the local client cert) -> hop 2 (mTLS) -> API server), in one nginx
 * worker or in one nginx per hop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NginxChain {
  url: string;
  /** the master processes (one, or one per hop); each one's worker is its child */
  pids: number[];
  stop(): Promise<void>;
}

export function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v']).status === 0 || spawnSync('/usr/sbin/nginx', ['-v']).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The certificates every two-hop chain of the proxy table uses (nginx's and the Node ones). */
export interface ChainCerts {
  /** https://127.0.0.1:port of the API server */
  upstream: string;
  upstreamCa: string;
  upstreamCert: string;
  upstreamKey: string;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  /** what hop 1 presents to hop 2 (a client-auth certificate, like the MFA certificate in Tapgate's chain) */
  hopCert: string;
  hopKey: string;
}

export async function startNginxChain(
  opts: ChainCerts & {
    /** 1: one worker runs both hops; 2: one nginx per hop */
    processes?: 1 | 2;
    /** hop 1 offers HTTP/2 to the client (as the local proxy does), for the watch table */
    http2?: boolean;
  },
): Promise<NginxChain> {
  const dir = mkdtempSync(join(tmpdir(), 'tapgate-nginx-'));
  const w = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const files = {
    upCa: w('up-ca.pem', opts.upstreamCa),
    upCert: w('up-cert.pem', opts.upstreamCert),
    upKey: w('up-key.pem', opts.upstreamKey),
    cert: w('cert.pem', opts.serverCert),
    key: w('key.pem', opts.serverKey),
    clientCa: w('client-ca.pem', opts.clientCa),
    hopCert: w('hop-cert.pem', opts.hopCert),
    hopKey: w('hop-key.pem', opts.hopKey),
  };
  const [p1, p2] = [await freePort(), await freePort()];
  const up = new URL(opts.upstream);
  const hop1 = `
  upstream hop2 { server 127.0.0.1:${p2}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${p1} ssl${opts.http2 ? ' http2' : ''};${opts.http2 ? ' http2_max_concurrent_streams 4096;' : ''}
    ssl_certificate ${files.cert}; ssl_certificate_key ${files.key};
    ssl_client_certificate ${files.clientCa}; ssl_verify_client on;
    location / {
      proxy_pass https://hop2; proxy_set_header Connection ""; proxy_set_header Host $host;
      proxy_ssl_certificate ${files.hopCert}; proxy_ssl_certificate_key ${files.hopKey}; proxy_ssl_session_reuse on;
    }
  }`;
  const hop2 = `
  upstream api { server ${up.hostname}:${up.port}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${p2} ssl;
    ssl_certificate ${files.cert}; ssl_certificate_key ${files.key};
    ssl_client_certificate ${files.clientCa}; ssl_verify_client on;
    location / {
      proxy_pass https://api; proxy_set_header Connection ""; proxy_set_header Host $host;
      proxy_ssl_certificate ${files.upCert}; proxy_ssl_certificate_key ${files.upKey}; proxy_ssl_session_reuse on;
    }
  }`;
  // one worker for both hops, or one nginx (master + worker) per hop, as hop 1 and hop 2 would run
  // on different machines (the laptop and the gate host) in a deployment
  const instances = opts.processes === 2 ? [{ name: 'hop1', servers: hop1, port: p1 }, { name: 'hop2', servers: hop2, port: p2 }] : [{ name: 'both', servers: hop1 + hop2, port: p1 }];
  const bin = spawnSync('nginx', ['-v']).status === 0 ? 'nginx' : '/usr/sbin/nginx';
  const children: ChildProcess[] = [];
  for (const i of instances) {
    const idir = join(dir, i.name);
    mkdirSync(idir);
    const conf = `
worker_processes 1;
daemon off;
pid ${idir}/nginx.pid;
error_log ${idir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # Tapgate never closes a warm connection after N requests; nginx would (1000 by default, client
  # side and upstream side), and each reconnect is a full TLS handshake in the measured window.
  keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path ${idir}/body; proxy_temp_path ${idir}/proxy; fastcgi_temp_path ${idir}/fcgi; uwsgi_temp_path ${idir}/uwsgi; scgi_temp_path ${idir}/scgi;
  proxy_buffering off; proxy_request_buffering off; proxy_http_version 1.1; proxy_read_timeout 1h;
${i.servers}
}`;
    const child = spawn(bin, ['-c', w(`nginx-${i.name}.conf`, conf), '-p', idir], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    // wait until it accepts connections
    const until = Date.now() + 5000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(i.port, '127.0.0.1', () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (Date.now() > until || child.exitCode !== null) {
        for (const c of children) c.kill('SIGKILL');
        throw new Error(`nginx did not start: ${err}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `https://127.0.0.1:${p1}`,
    pids: children.map((c) => c.pid!),
    stop: () =>
      Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              child.once('exit', () => resolve());
              child.kill('SIGQUIT');
            }),
        ),
      ).then(() => undefined),
  };
}
