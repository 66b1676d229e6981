/**
 * The baseline chain: two nginx hops with TLS and the same certificates as Tapgate's chain
 * (client -> hop 1 (verifies the local client cert) -> hop 2 (mTLS) -> API server).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NginxChain {
  url: string;
  /** the master process; its worker is a child */
  pid: number;
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

export async function startNginxChain(opts: {
  upstream: string; // https://127.0.0.1:port of the API server
  upstreamCa: string;
  upstreamCert: string;
  upstreamKey: string;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  /** what hop 1 presents to hop 2 (a client-auth certificate, like the MFA certificate in Tapgate's chain) */
  hopCert: string;
  hopKey: string;
}): Promise<NginxChain> {
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
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  # Tapgate never closes a warm connection after N requests; nginx would (1000 by default, client
  # side and upstream side), and each reconnect is a full TLS handshake in the measured window.
  keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  proxy_buffering off; proxy_request_buffering off; proxy_http_version 1.1; proxy_read_timeout 1h;
  upstream api { server ${up.hostname}:${up.port}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  upstream hop2 { server 127.0.0.1:${p2}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${p1} ssl;
    ssl_certificate ${files.cert}; ssl_certificate_key ${files.key};
    ssl_client_certificate ${files.clientCa}; ssl_verify_client on;
    location / {
      proxy_pass https://hop2; proxy_set_header Connection ""; proxy_set_header Host $host;
      proxy_ssl_certificate ${files.hopCert}; proxy_ssl_certificate_key ${files.hopKey}; proxy_ssl_session_reuse on;
    }
  }
  server {
    listen 127.0.0.1:${p2} ssl;
    ssl_certificate ${files.cert}; ssl_certificate_key ${files.key};
    ssl_client_certificate ${files.clientCa}; ssl_verify_client on;
    location / {
      proxy_pass https://api; proxy_set_header Connection ""; proxy_set_header Host $host;
      proxy_ssl_certificate ${files.upCert}; proxy_ssl_certificate_key ${files.upKey}; proxy_ssl_session_reuse on;
    }
  }
}`;
  const confPath = w('nginx.conf', conf);
  const bin = spawnSync('nginx', ['-v']).status === 0 ? 'nginx' : '/usr/sbin/nginx';
  const child = spawn(bin, ['-c', confPath, '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  // wait until hop 1 accepts connections
  const until = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(p1, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > until || child.exitCode !== null) throw new Error(`nginx did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `https://127.0.0.1:${p1}`,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
      }),
  };
}
