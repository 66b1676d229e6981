import assert from 'node:assert/strict';
import { promises as fs, statSync, existsSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import type { PendingTap } from '../../src/client/agent-types';
import { ConnectionTracker } from '../../src/client/connection-tracker';
import { GateUpstream } from '../../src/client/gate-upstream';
import { LocalProxy } from '../../src/client/local-proxy';
import { MfaSession } from '../../src/client/mfa-session';
import type { TapPrompt, TapPromptCloseReason } from '../../src/client/tap-prompt';
import { ManualClock, systemClock } from '../../src/core/clock';
import { startStubGate, type StubGate } from './client-stub-gate';

class RecordingPrompt implements TapPrompt {
  shown: PendingTap[] = [];
  closed: TapPromptCloseReason[] = [];
  private waiters: ((p: PendingTap) => void)[] = [];
  show(p: PendingTap): void {
    this.shown.push(p);
    for (const w of this.waiters.splice(0)) w(p);
  }
  close(reason: TapPromptCloseReason): void {
    this.closed.push(reason);
  }
  next(): Promise<PendingTap> {
    return new Promise((r) => this.waiters.push(r));
  }
}

interface Rig {
  gate: StubGate;
  prompt: RecordingPrompt;
  session: MfaSession;
  tracker: ConnectionTracker;
  proxy: LocalProxy;
  upstream: GateUpstream;
  client: http2.ClientHttp2Session;
  /** the gate's 401/403 answers the proxy reported (onGateRefusal) */
  refusals: string[];
  close(): Promise<void>;
}

async function rig(opts: { holdTimeoutMs?: number; clock?: ManualClock; clusters?: string[] } = {}): Promise<Rig> {
  const gate = await startStubGate();
  const prompt = new RecordingPrompt();
  const tracker = new ConnectionTracker(Date.now, undefined, 10);
  const clusters = opts.clusters ?? ['c1', 'c2'];
  const session = new MfaSession({ issuer: gate.issuer, prompt, clusters, holdTimeoutMs: opts.holdTimeoutMs ?? 10_000, clock: opts.clock ?? systemClock, tracker });
  const upstream = new GateUpstream({ kubeUrl: gate.kubeUrl, caPem: gate.caPem });
  const dir = await fs.mkdtemp(join(tmpdir(), 'tapgate-proxy-'));
  const refusals: string[] = [];
  const proxy = await LocalProxy.start({ clusters, session, upstream, tracker, kubeconfigPath: join(dir, 'kubeconfig.yaml'), onGateRefusal: (s, r, m) => refusals.push(`${s} ${r} ${m}`) });
  const t = proxy.localTls;
  const client = http2.connect(proxy.url, { ca: t.caPem, cert: t.clientCertPem, key: t.clientKeyPem });
  return {
    gate,
    prompt,
    session,
    tracker,
    proxy,
    upstream,
    client,
    refusals,
    async close() {
      client.destroy();
      session.dispose();
      await proxy.close();
      upstream.close();
      await gate.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

function get(client: http2.ClientHttp2Session, path: string, body?: string, method = body ? 'POST' : 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path, ':method': method }, { endStream: body === undefined });
    if (body !== undefined) req.end(body);
    let status = 0;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (status = h[':status'] as number));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
  });
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('local kube proxy: hold and tap', () => {
  let r: Rig;
  before(async () => (r = await rig()));
  after(() => r.close());

  test('writes a 0600 kubeconfig with one context per cluster', async () => {
    const st = statSync(r.proxy.kubeconfigPath);
    assert.equal(st.mode & 0o777, 0o600);
    const kc = YAML.parse(await fs.readFile(r.proxy.kubeconfigPath, 'utf8'));
    assert.deepEqual(
      kc.contexts.map((c: { name: string }) => c.name),
      ['tapgate-c1', 'tapgate-c2'],
    );
    assert.equal(kc.clusters[1].cluster.server, `${r.proxy.url}/k/c2`);
  });

  test('requests without a certificate are held, one tap for all clusters, then all complete', async () => {
    const shown = r.prompt.next();
    const a = get(r.client, '/k/c1/api/v1/namespaces/default/pods');
    const b = get(r.client, '/k/c2/api/v1/namespaces/payments/configmaps', '{"x":1}');
    const p = await shown;
    assert.deepEqual(p.clusters, ['c1', 'c2']);
    await until(() => r.session.pending()?.held.length === 2);
    const held = await r.tracker.list((c) => c.state === 'held');
    assert.deepEqual(held.map((h) => h.summary).sort(), ['create configmaps -n payments', 'get pods -n default']);
    assert.equal(r.gate.seen.length, 0, 'nothing reached the gate before the tap');
    await r.gate.issuer.tap(p.id);
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.status, 200);
    assert.equal(JSON.parse(ra.body).path, '/k/c1/api/v1/namespaces/default/pods');
    assert.equal(JSON.parse(rb.body).body, '{"x":1}');
    assert.equal(r.gate.issuer.requests.length, 1);
    assert.deepEqual(r.prompt.closed, ['verified']);
  });

  test('while the certificate is valid requests go straight through', async () => {
    const res = await get(r.client, '/k/c1/version');
    assert.equal(res.status, 200);
    assert.equal(r.gate.issuer.requests.length, 1);
  });

  test('when the gate says MFARequired the request (with its body) is held and replayed after the tap', async () => {
    r.gate.refuseUntilTap = true;
    const shown = r.prompt.next();
    const res = get(r.client, '/k/c1/api/v1/namespaces/default/configmaps', '{"replayed":true}');
    const p = await shown;
    await r.gate.issuer.tap(p.id);
    const done = await res;
    assert.equal(done.status, 200);
    assert.equal(JSON.parse(done.body).body, '{"replayed":true}');
  });

  test('when the gate says MFARequired to a GET it is held and replayed after the tap', async () => {
    await get(r.client, '/k/c1/api/v1/namespaces');
    r.gate.refuseUntilTap = true;
    const shown = r.prompt.next();
    const res = get(r.client, '/k/c1/api/v1/namespaces/default/pods');
    await r.gate.issuer.tap((await shown).id);
    const done = await res;
    assert.equal(done.status, 200);
    assert.equal(JSON.parse(done.body).path, '/k/c1/api/v1/namespaces/default/pods');
  });

  test('short requests use the keep-alive HTTP/1.1 pool to the gate; bodies and watches HTTP/2', async () => {
    const from = r.gate.seen.length;
    for (let i = 0; i < 5; i++) assert.equal((await get(r.client, `/k/c1/api/v1/namespaces/n${i}`)).status, 200);
    assert.equal((await get(r.client, '/k/c2/api/v1/namespaces', '{"kind":"Namespace"}')).status, 200);
    const w = r.client.request({ ':path': '/k/c1/api/v1/pods?watch=true' });
    await new Promise((res) => w.once('response', res));
    w.close();
    const seen = r.gate.seen.slice(from).map((s, i) => `${r.gate.versions[from + i]} ${s}`);
    assert.deepEqual(seen, [
      ...Array.from({ length: 5 }, (_, i) => `1.1 GET /k/c1/api/v1/namespaces/n${i}`),
      '2.0 POST /k/c2/api/v1/namespaces',
      '2.0 GET /k/c1/api/v1/pods?watch=true',
    ]);
  });

  test('a client that goes away mid-answer cancels the pooled request and the next one still works', async () => {
    const req = r.client.request({ ':path': '/k/c1/bulk?size=50000000' });
    await new Promise((res) => req.once('response', res));
    const cut = r.gate.cutShort();
    req.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => r.gate.cutShort() === cut + 1 && r.tracker.size === 0);
    assert.equal((await get(r.client, '/k/c1/api/v1/namespaces')).status, 200);
  });

  test('a refusal from the gate reaches the client intact and is reported, on the pool and on HTTP/2', async () => {
    const from = r.refusals.length;
    const short = await get(r.client, '/k/c1/api/v1/namespaces/default/locked');
    const withBody = await get(r.client, '/k/c1/api/v1/namespaces/default/locked', '{}');
    for (const res of [short, withBody]) {
      assert.equal(res.status, 403);
      assert.equal(JSON.parse(res.body).message, 'user alice is locked: on leave');
    }
    assert.deepEqual(r.refusals.slice(from), ['403 Forbidden user alice is locked: on leave', '403 Forbidden user alice is locked: on leave']);
  });

  test('a watch keeps streaming across a lapse and a new tap; disconnect ends it', async () => {
    const w = r.client.request({ ':path': '/k/c1/api/v1/namespaces/default/pods?watch=true' });
    const lines: string[] = [];
    w.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    await new Promise((res) => w.once('response', res));
    await until(() => r.gate.watches() === 1);
    r.gate.emit('one');
    await until(() => lines.includes('one'));
    r.session.forget();
    const shown = r.prompt.next();
    const held = get(r.client, '/k/c1/api/v1/pods');
    const p = await shown;
    r.gate.emit('two');
    await until(() => lines.includes('two'));
    await r.gate.issuer.tap(p.id);
    assert.equal((await held).status, 200);
    r.gate.emit('three');
    await until(() => lines.includes('three'));
    const list = await r.tracker.list();
    const watch = list.find((c) => c.kind === 'watch')!;
    assert.equal(watch.summary, 'watch pods -n default');
    assert.ok(watch.bytesOut >= 12);
    assert.equal(r.tracker.disconnect(watch.id), true);
    await new Promise((res) => w.once('close', res));
    await until(() => r.gate.watches() === 0);
  });

  test('bulk responses arrive intact', async () => {
    const size = 24 * 1024 * 1024;
    const req = r.client.request({ ':path': `/k/c1/bulk?size=${size}` });
    let n = 0;
    let bad = false;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (c[0] !== 7 || c[c.length - 1] !== 7) bad = true;
    });
    await new Promise((res) => req.on('end', res));
    assert.equal(n, size);
    assert.equal(bad, false);
  });

  test('upgrades are piped; a refused upgrade passes the real answer back', async () => {
    const t = r.proxy.localTls;
    const upgrade = (path: string) =>
      new Promise<{ status: number; echo?: string; body?: string }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: r.proxy.port, path, method: 'POST', ca: t.caPem, cert: t.clientCertPem, key: t.clientKeyPem, headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' } });
        req.on('upgrade', (res, sock) => {
          sock.once('data', (d: Buffer) => {
            resolve({ status: res.statusCode!, echo: d.toString() });
            sock.destroy();
          });
          sock.write('ping');
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const ok = await upgrade('/k/c1/api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true');
    assert.deepEqual(ok, { status: 101, echo: 'echo:ping' });
    const refused = await upgrade('/k/c1/api/v1/namespaces/default/pods/notupgradable/exec?command=sh');
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body!).message, 'upgrade refused by the API server');
  });

  test('a client without the local client certificate is refused with a Status naming the kubeconfig', async () => {
    const c = http2.connect(r.proxy.url, { ca: r.proxy.localTls.caPem });
    try {
      const res = await get(c, '/k/c1/api/v1/pods');
      assert.equal(res.status, 401);
      assert.match(JSON.parse(res.body).message, /KUBECONFIG=/);
    } finally {
      c.destroy();
    }
  });

  test('an unknown cluster is a 404 Status', async () => {
    const res = await get(r.client, '/k/nope/api/v1/pods');
    assert.equal(res.status, 404);
    assert.match(JSON.parse(res.body).message, /not one of them/);
  });
});

describe('local kube proxy: giving up', () => {
  test('a held request gives up after the hold timeout with a Status naming the cluster and the tap URL', async () => {
    const r = await rig({ holdTimeoutMs: 300, clusters: ['prod'] });
    try {
      const res = await get(r.client, '/k/prod/api/v1/pods');
      assert.equal(res.status, 504);
      const s = JSON.parse(res.body);
      assert.equal(s.reason, 'Timeout');
      assert.match(s.message, /waiting for a security-key tap for cluster prod; tap at https:\/\/stub\.invalid\/tap\/mfa-1/);
      await until(() => r.gate.issuer.cancelled.length === 1);
      assert.deepEqual(r.prompt.closed, ['timeout']);
    } finally {
      await r.close();
    }
  });

  test('a lapse seen by the client clock holds new requests', async () => {
    const clock = new ManualClock(Date.now());
    const r = await rig({ clock });
    try {
      let shown = r.prompt.next();
      let res = get(r.client, '/k/c1/api/v1/pods');
      await r.gate.issuer.tap((await shown).id);
      assert.equal((await res).status, 200);
      clock.advance(61_000);
      assert.equal(r.session.current(), undefined);
      shown = r.prompt.next();
      res = get(r.client, '/k/c1/api/v1/pods');
      const p = await shown;
      assert.equal(p.held.length, 1);
      clock.set(Date.now());
      await r.gate.issuer.tap(p.id);
      assert.equal((await res).status, 200);
      assert.equal(r.gate.issuer.requests.length, 2);
    } finally {
      await r.close();
    }
  });

  test('the kubeconfig is removed on close', async () => {
    const r = await rig();
    const path = r.proxy.kubeconfigPath;
    assert.ok(existsSync(path));
    await r.close();
    assert.ok(!existsSync(path));
  });
});
