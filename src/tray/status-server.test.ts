import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInvokeApi } from './invoke-api';
import { ScriptedAgent } from './scripted-agent';
import { startStatusServer } from './status-server';

const NOW = Date.UTC(2026, 0, 1, 12);

async function setup() {
  const base = mkdtempSync(join(tmpdir(), 'tapgate-renderer-'));
  const root = join(base, 'renderer');
  mkdirSync(join(root, 'status'), { recursive: true });
  writeFileSync(join(root, 'status', 'index.html'), '<!doctype html><title>status</title>');
  writeFileSync(join(base, 'secret.txt'), 'not for you');
  const agent = new ScriptedAgent({ state: 'verified', server: 'https://gate.example.com', user: 'alice', clusters: [], mfaExpires: NOW + 600_000, now: NOW });
  agent.conns = [{ id: 'c1', cluster: 'prod', kind: 'exec', summary: 'exec web-1 -- sh', startedAt: NOW, bytesIn: 1, bytesOut: 2, state: 'active' }];
  const opened: string[] = [];
  const api = createInvokeApi({ agent, openExternal: async (u) => (opened.push(u), true) });
  const server = await startStatusServer({ api, subscribe: (l) => agent.subscribe(l), root: join(root, '') });
  return {
    agent,
    server,
    opened,
    close: async () => {
      await server.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    r.on('error', reject);
    r.end(opts.body);
  });
}

async function login(origin: string, token: string): Promise<string> {
  const r = await http(`${origin}/status/?token=${token}`);
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/status/');
  const cookie = String(r.headers['set-cookie']).split(';')[0]!;
  assert.match(String(r.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
  return cookie;
}

test('the token is exchanged for a cookie once; without it nothing is served', async () => {
  const t = await setup();
  try {
    assert.equal((await http(`${t.server.origin}/status/`)).status, 401);
    assert.equal((await http(`${t.server.origin}/status/?token=wrong`)).status, 403);
    const cookie = await login(t.server.origin, t.server.token);
    const page = await http(`${t.server.origin}/status/`, { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>status/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  } finally {
    await t.close();
  }
});

test('calls go through with the cookie and the X-Tapgate header, errors come back as {error}', async () => {
  const t = await setup();
  try {
    const cookie = await login(t.server.origin, t.server.token);
    const call = (name: string, args: unknown[] = [], extra: Record<string, string> = { 'x-tapgate': '1' }) =>
      http(`${t.server.origin}/api/invoke/${name}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...extra }, body: JSON.stringify({ args }) });
    assert.deepEqual(JSON.parse((await call('disconnect', ['c1'])).body), { result: { disconnected: true } });
    assert.deepEqual(t.agent.calls, ['disconnect c1']);
    assert.equal((await call('disconnect', ['c1'], {})).status, 403, 'no X-Tapgate header: a cross-site form cannot call');
    assert.deepEqual(JSON.parse((await call('credentials', [{ cluster: 'prod' }])).body).error.code, 'unknown_method');
    assert.deepEqual(JSON.parse((await call('toString')).body).error.code, 'unknown_method');
    assert.deepEqual(JSON.parse((await call('disconnect', [{ evil: 1 }])).body).error.code, 'bad_request');
    assert.deepEqual(JSON.parse((await call('settings')).body).error.code, 'no_settings');
  } finally {
    await t.close();
  }
});

test('"use my browser" opens only a tap page on the gate', async () => {
  const t = await setup();
  try {
    const cookie = await login(t.server.origin, t.server.token);
    const call = () => http(`${t.server.origin}/api/invoke/openTapInBrowser`, { method: 'POST', headers: { cookie, 'x-tapgate': '1' }, body: '{}' });
    assert.deepEqual(JSON.parse((await call()).body), { result: { opened: false } });
    t.agent.s = { ...t.agent.s, state: 'waiting-for-tap', pendingTap: { id: 't1', tapUrl: 'https://gate.example.com/tap/t1', clusters: ['prod'], giveUpAt: NOW, held: [] } };
    assert.deepEqual(JSON.parse((await call()).body), { result: { opened: true, url: 'https://gate.example.com/tap/t1' } });
    t.agent.s = { ...t.agent.s, pendingTap: { ...t.agent.s.pendingTap!, tapUrl: 'https://evil.example.com/tap/t1' } };
    assert.match(JSON.parse((await call()).body).error.message, /not on the gate/);
    assert.deepEqual(t.opened, ['https://gate.example.com/tap/t1']);
  } finally {
    await t.close();
  }
});

test('DNS rebinding and path traversal are refused', async () => {
  const t = await setup();
  try {
    const cookie = await login(t.server.origin, t.server.token);
    assert.equal((await http(`${t.server.origin}/status/`, { headers: { cookie, host: 'evil.example.com' } })).status, 421);
    assert.equal((await http(`${t.server.origin}/status/..%2f..%2fetc/passwd`, { headers: { cookie } })).status, 404);
    assert.equal((await http(`${t.server.origin}/%2e%2e/secret.txt`, { headers: { cookie } })).status, 404);
    assert.equal((await http(`${t.server.origin}/status/%2e%2e%2f%2e%2e%2fsecret.txt`, { headers: { cookie } })).status, 404);
  } finally {
    await t.close();
  }
});

test('the push stream starts with a full picture and then follows the agent', async () => {
  const t = await setup();
  try {
    const cookie = await login(t.server.origin, t.server.token);
    const events: { event: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      const r = request(`${t.server.origin}/api/push`, { headers: { cookie } }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (chunk.startsWith('data: ')) events.push(JSON.parse(chunk.slice(6)));
            if (events.length === 2) t.agent.push({ event: 'event', data: { kind: 'locked', at: NOW, message: 'locked' } });
            if (events.length === 3) {
              r.destroy();
              resolve();
            }
          }
        });
      });
      r.on('error', (e) => (events.length >= 3 ? resolve() : reject(e)));
      r.end();
    });
    assert.deepEqual(events.map((e) => e.event), ['status', 'connections', 'event']);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(t.agent.subscriberCount, 0, 'a closed page unsubscribes');
  } finally {
    await t.close();
  }
});
