import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TapgateError } from '../core/errors';
import { openBrowser } from '../client/tap-prompt';
import type { AgentSource, TrayPush } from './agent-source';
import type { InvokeApi } from './ipc-channels';
import { createInvokeApi, invokeByName } from './invoke-api';
import { wrapResult } from './ipc-result';

/**
 * The status window for a browser: serves the built renderer (dist/renderer) on 127.0.0.1 and
 * bridges it to the agent — POST /api/invoke/<method> for calls, GET /api/push (Server-Sent
 * Events) for updates. Headless `tapgate agent` users get the same page as the tray, and the UI
 * tests drive it in plain Chromium. A random token, handed over once in the URL and then kept
 * in a SameSite=Strict cookie, keeps other local users and web pages out.
 */
export interface StatusServerOptions {
  api: InvokeApi;
  subscribe: (listener: (p: TrayPush) => void) => () => void;
  /** the built renderer; default: dist/renderer of this checkout */
  root?: string;
  port?: number;
  token?: string;
  /** the gate's origin, allowed as a frame source for the tap page */
  gateOrigin?: () => string | undefined;
}

export interface StatusServer {
  /** open this once: it carries the token */
  url: string;
  origin: string;
  token: string;
  /** the page URL for a view, e.g. pageUrl('tap') */
  pageUrl(page: 'status' | 'tap', hash?: string): string;
  close(): Promise<void>;
}

export function defaultRendererRoot(): string {
  return fileURLToPath(new URL('../../dist/renderer/', import.meta.url));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};
const MAX_BODY = 64 * 1024;

export async function startStatusServer(o: StatusServerOptions): Promise<StatusServer> {
  const root = normalize(o.root ?? defaultRendererRoot());
  if (!existsSync(join(root, 'status', 'index.html'))) {
    throw new TapgateError('no_renderer', `the status page is not built (${join(root, 'status', 'index.html')} is missing); run \`npm run build\` first`);
  }
  const token = o.token ?? randomBytes(24).toString('base64url');
  const streams = new Set<ServerResponse>();
  let port = 0;
  const cookieName = () => `tapgate_status_${port}`;

  const authed = (req: IncomingMessage): boolean => {
    const cookie = (req.headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${cookieName()}=`));
    return !!cookie && safeEqual(cookie.slice(cookieName().length + 1), token);
  };

  const securityHeaders = (res: ServerResponse) => {
    const gate = o.gateOrigin?.();
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src ${gate ?? "'none'"}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
  };

  const send = (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const server = createServer((req, res) => {
    securityHeaders(res);
    void handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: only our own host names
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return send(res, 421, 'wrong host');
    const url = new URL(req.url ?? '/', `http://${host}`);
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!safeEqual(given, token)) return send(res, 403, 'wrong token: open the URL tapgate printed');
      url.searchParams.delete('token');
      const path = url.pathname === '/' ? '/status/' : url.pathname;
      res.writeHead(302, { Location: `${path}${url.search}${url.hash}`, 'Set-Cookie': `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/` });
      return void res.end();
    }
    if (!authed(req)) return send(res, 401, 'Tapgate status page: open the URL tapgate printed (it carries a one-time token).');

    if (url.pathname.startsWith('/api/invoke/') && req.method === 'POST') {
      if (req.headers['x-tapgate'] !== '1') return send(res, 403, 'missing X-Tapgate header');
      const name = url.pathname.slice('/api/invoke/'.length);
      const body = await readBody(req);
      const wrapped = await wrapResult(async () => {
        const args = body ? (JSON.parse(body) as { args?: unknown }).args : [];
        return invokeByName(o.api, name, args);
      });
      return send(res, 200, JSON.stringify(wrapped), 'application/json');
    }
    if (url.pathname === '/api/push' && req.method === 'GET') return openStream(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    if (url.pathname === '/') {
      res.writeHead(302, { Location: '/status/' });
      return void res.end();
    }
    return serveFile(url.pathname, res);
  }

  async function serveFile(pathname: string, res: ServerResponse): Promise<void> {
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return send(res, 400, 'bad path');
    }
    if (rel.endsWith('/')) rel += 'index.html';
    const file = normalize(join(root, rel));
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return send(res, 404, 'not found');
    let data: Buffer;
    try {
      data = await fs.readFile(file);
    } catch {
      return send(res, 404, 'not found');
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': data.length });
    res.end(data);
  }

  async function openStream(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
    res.flushHeaders();
    const write = (p: TrayPush) => res.write(`data: ${JSON.stringify(p)}\n\n`);
    streams.add(res);
    const unsubscribe = o.subscribe(write);
    const beat = setInterval(() => res.write(': keep-alive\n\n'), 25_000);
    res.on('close', () => {
      clearInterval(beat);
      unsubscribe();
      streams.delete(res);
    });
    // the page starts from a full picture, then follows the pushes
    const [status, connections] = await Promise.all([o.api.status(), o.api.connections()]);
    write({ event: 'status', data: status });
    write({ event: 'connections', data: connections });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/status/?token=${token}`,
    origin,
    token,
    pageUrl: (page, hash) => `${origin}/${page}/?token=${token}${hash ? `#${hash}` : ''}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new TapgateError('too_large', 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The status page for an agent (in-process or over its control socket): `tapgate open` without a tray, `tapgate agent --status-page`. */
export function startStatusPage(agent: AgentSource, opts: { root?: string; port?: number; openExternal?: (url: string) => Promise<boolean> } = {}): Promise<StatusServer> {
  let gate: string | undefined;
  const subscribe = (l: (p: TrayPush) => void) =>
    agent.subscribe((p) => {
      if (p.event === 'status' && p.data.server) gate = new URL(p.data.server).origin;
      l(p);
    });
  return startStatusServer({ api: createInvokeApi({ agent, openExternal: opts.openExternal ?? openBrowser }), subscribe, root: opts.root, port: opts.port, gateOrigin: () => gate });
}
