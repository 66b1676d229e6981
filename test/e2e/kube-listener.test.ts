/**
 * The gate's kube listener end to end: real kubectl 1.35 → gate kube listener (mTLS, MFA
 * certificate issued directly by the user CA) → fake API server. No gate API server, no
 * WebAuthn: the GateContext is built here.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import YAML from 'yaml';
import { AuditLog } from '../../src/audit/audit';
import { BotAdmin } from '../../src/bots/admin';
import { botService } from '../../src/bots/routes';
import { parseRole, RoleRepo } from '../../src/auth/roles';
import { parseConfig } from '../../src/config/config';
import type { Clock } from '../../src/core/clock';
import { Locks } from '../../src/locks/locks';
import { CertificateAuthority, generateKeyPair } from '../../src/pki/ca';
import type { Identity } from '../../src/pki/identity';
import type { GateContext } from '../../src/server/context';
import { startKubeListener, type KubeListener } from '../../src/server/kube/listener';
import { createMetrics } from '../../src/server/metrics';
import { openDb } from '../../src/store/open';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index';
import { runKubectl, spawnKubectl } from '../helpers/kubectl';

/** Real time plus an offset the test moves forward: certificates lapse without sleeping, timers stay real. */
class ShiftedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
}

const HOUR = 3_600_000;

interface Fixture {
  dir: string;
  fake: FakeApiServer;
  ctx: GateContext;
  clock: ShiftedClock;
  kube: KubeListener;
  /** kubeconfig for alice (role dev: user alice-k8s, group developers; cluster dev and tok) */
  alice: Creds;
}

interface Creds {
  certPem: string;
  keyPem: string;
  kubeconfig: string;
}

let fx: Fixture;

async function setup(): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tapgate-kube-'));
  const fake = await startFakeApiServer({ tokens: { 'client-secret-token': { username: 'should-never-be-seen', groups: ['system:masters'] } } });
  const devKc = await fake.writeKubeconfig(path.join(dir, 'upstream-dev.yaml'), { context: 'dev' });
  const tokKc = await fake.writeKubeconfig(path.join(dir, 'upstream-tok.yaml'), { context: 'tok', auth: 'token' });
  // a cluster whose API server is down: the dev kubeconfig pointed at a port nothing listens on
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const goneKc = path.join(dir, 'upstream-gone.yaml');
  writeFileSync(goneKc, readFileSync(devKc, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://127.0.0.1:${closedPort}`));
  const clock = new ShiftedClock();
  const log = pino({ level: 'silent' });
  const db = await openDb({ type: 'sqlite', path: path.join(dir, 'tapgate.db') });
  const audit = new AuditLog(db, clock);
  const locks = new Locks(db, audit, clock);
  await locks.start();
  const roles = new RoleRepo(db);
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'dev' }, spec: { kubernetes_users: ['alice-k8s'], kubernetes_groups: ['developers'], kube_clusters: ['dev', 'tok'] } }));
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'strict' }, spec: { kubernetes_groups: ['auditors'], kube_clusters: ['dev'], disconnect_expired_cert: true } }));
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'prod-only' }, spec: { kube_clusters: ['prod'] } }));
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'gone' }, spec: { kubernetes_groups: ['developers'], kube_clusters: ['gone'] } }));
  await roles.upsert(parseRole({ kind: 'role', metadata: { name: 'deploy' }, spec: { kubernetes_groups: ['deployers'], kube_clusters: ['dev'] } }));
  const cas = {
    user: await CertificateAuthority.loadOrCreate(db, 'user'),
    bot: await CertificateAuthority.loadOrCreate(db, 'bot'),
    host: await CertificateAuthority.loadOrCreate(db, 'host'),
  };
  const server = await cas.host.issueServerCert({ hosts: ['127.0.0.1', 'localhost'], ttlMs: 24 * HOUR });
  const config = parseConfig({
    data_dir: dir,
    listen: { api: '127.0.0.1:0', kube: '127.0.0.1:0' },
    clusters: [
      { name: 'dev', kubeconfig: devKc },
      { name: 'tok', kubeconfig: tokKc },
      { name: 'gone', kubeconfig: goneKc },
    ],
    log_level: 'silent',
  });
  const ctx: GateContext = { config, db, clock, log, audit, locks, roles, cas, tls: { certPem: server.certPem, keyPem: server.keyPem!, caPem: cas.host.certPem }, metrics: createMetrics() };
  const kube = await startKubeListener(ctx);
  const f = { dir, fake, ctx, clock, kube } as Fixture;
  f.alice = await issue(f, { name: 'alice', roles: ['dev'], clusters: ['dev', 'tok'] });
  return f;
}

/** Issues a certificate straight from the user CA (what a tap would yield) and writes a kubeconfig for it. */
async function issue(
  f: Pick<Fixture, 'ctx' | 'kube' | 'dir'>,
  o: { name: string; roles: string[]; clusters: string[]; usage?: Identity['usage']; ttlMs?: number; cluster?: string },
): Promise<Creds> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const identity: Identity = {
    usage: o.usage ?? 'mfa',
    kind: 'user',
    name: o.name,
    roles: o.roles,
    kubeUsers: [],
    kubeGroups: [],
    clusters: o.clusters,
    mfaDevice: `key-of-${o.name}`,
    mfaVerifiedAt: now,
    loginExpires: now + 12 * HOUR,
  };
  const cert = await f.ctx.cas.user.issue({ publicKeyPem: keys.publicKeyPem, identity, ttlMs: o.ttlMs ?? 15 * 60_000 });
  const kubeconfig = path.join(f.dir, `kc-${o.name}-${Math.random().toString(36).slice(2)}.yaml`);
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cluster = o.cluster ?? 'dev';
  writeFileSync(
    kubeconfig,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: cluster, cluster: { server: `${f.kube.url}/k/${cluster}`, 'certificate-authority-data': b64(f.ctx.tls.caPem) } }],
      users: [{ name: o.name, user: { 'client-certificate-data': b64(cert.certPem), 'client-key-data': b64(keys.privateKeyPem) } }],
      contexts: [{ name: `tapgate-${cluster}`, context: { cluster, user: o.name, namespace: 'default' } }],
      'current-context': `tapgate-${cluster}`,
    }),
    { mode: 0o600 },
  );
  return { certPem: cert.certPem, keyPem: keys.privateKeyPem, kubeconfig };
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request over HTTP/1.1 with the given client certificate (undefined: none). */
function h1Request(creds: Pick<Creds, 'certPem' | 'keyPem'> | undefined, method: string, p: string, headers: Record<string, string | string[]> = {}, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(fx.kube.url);
    // host/port/path options, not a URL string: a URL would normalise away "..", which one test sends
    const req = https.request(
      { host: u.hostname, port: Number(u.port), path: p, method, headers, ca: fx.ctx.tls.caPem, cert: creds?.certPem, key: creds?.keyPem, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP/2 session to the listener with a certificate, as the local proxy holds one. */
function h2Session(creds: Pick<Creds, 'certPem' | 'keyPem'>): http2.ClientHttp2Session {
  const s = http2.connect(fx.kube.url, { ca: fx.ctx.tls.caPem, cert: creds.certPem, key: creds.keyPem });
  s.on('error', () => undefined);
  return s;
}

function h2Request(s: http2.ClientHttp2Session, p: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': p, ...headers });
    let status = 0;
    let h: Record<string, string | string[] | undefined> = {};
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (rh) => {
      status = Number(rh[':status']);
      h = rh as typeof h;
    });
    req.on('data', (c: string) => (text += c));
    req.on('end', () => resolve({ status, headers: h, body: text }));
    req.on('error', reject);
    req.end();
  });
}

/** A watch over HTTP/2; collects event lines and resolves `ended` when the stream ends, however it ends. */
function openWatch(creds: Pick<Creds, 'certPem' | 'keyPem'>, p = '/k/dev/api/v1/namespaces/default/configmaps?watch=true') {
  const session = h2Session(creds);
  const req = session.request({ ':path': p });
  const lines: string[] = [];
  let buf = '';
  let status = 0;
  const headersSeen = new Promise<number>((resolve) => req.once('response', (h) => resolve((status = Number(h[':status'])))));
  req.setEncoding('utf8');
  req.on('data', (c: string) => {
    buf += c;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  req.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => req.once('close', () => resolve()));
  return {
    lines,
    headersSeen,
    get status() {
      return status;
    },
    ended,
    async waitFor(pred: (line: string) => boolean, ms = 5_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const hit = lines.find(pred);
        if (hit) return hit;
        await sleep(20);
      }
      throw new Error(`no watch event matched within ${ms} ms; got ${JSON.stringify(lines)}`);
    },
    close() {
      req.close();
      session.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function configMap(name: string, data: Record<string, string> = { k: 'v' }) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data };
}

/** Resolves with how long `p` took, or rejects if it takes longer than `guardMs` (a hang guard, not a timing assertion). */
async function endsWithin(p: Promise<unknown>, guardMs: number): Promise<number> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${guardMs} ms`)), guardMs)))]);
  clearTimeout(timer);
  return Date.now() - start;
}

async function auditOf(event: string) {
  await sleep(50); // audit writes are fire-and-forget on the request path
  return fx.ctx.audit.list({ event });
}

before(async () => {
  fx = await setup();
});

after(async () => {
  await fx.kube.close();
  await fx.fake.close();
  fx.ctx.locks.stop();
  await fx.ctx.db.close();
  rmSync(fx.dir, { recursive: true, force: true });
});

describe('kubectl through the gate kube listener', () => {
  test('get, get -o json, apply, and the impersonated identity upstream', async () => {
    const kc = { kubeconfig: fx.alice.kubeconfig };
    const ns = await runKubectl(['get', 'namespaces', '-o', 'json'], kc);
    assert.equal(ns.code, 0, ns.stderr);
    assert.ok(JSON.parse(ns.stdout).items.some((i: { metadata: { name: string } }) => i.metadata.name === 'kube-system'));

    const applied = await runKubectl(['apply', '-f', '-'], { ...kc, stdin: JSON.stringify(configMap('through-gate')) });
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /configmap\/through-gate (created|configured)/);
    const got = await runKubectl(['get', 'configmap', 'through-gate', '-o', 'jsonpath={.data.k}'], kc);
    assert.equal(got.stdout, 'v');

    const imp = fx.fake.lastImpersonation((r) => r.path.endsWith('/configmaps/through-gate'));
    assert.ok(imp, 'the gate sets impersonation headers');
    assert.equal(imp.user, 'alice-k8s');
    assert.deepEqual([...imp.groups].sort(), ['developers', 'system:authenticated']);
    const rec = fx.fake.requests.findLast((r) => r.path.endsWith('/configmaps/through-gate'))!;
    assert.equal(rec.authMethod, 'cert', 'upstream sees the gate\'s own credentials');
  });

  test('kubectl exec with stdin, stdout and exit code (WebSocket upgrade), audited as a session', async () => {
    const kc = { kubeconfig: fx.alice.kubeconfig };
    const run = await runKubectl(['run', 'shell', '--image=busybox', '--restart=Never'], kc);
    assert.equal(run.code, 0, run.stderr);
    await runKubectl(['wait', '--for=condition=Ready', 'pod/shell', '--timeout=10s'], kc);
    const echo = await runKubectl(['exec', '-i', 'shell', '--', 'cat'], { ...kc, stdin: 'hello through the gate\n' });
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, 'hello through the gate\n');
    const fail = await runKubectl(['exec', 'shell', '--', 'sh', '-c', 'exit 3'], kc);
    assert.equal(fail.code, 3, fail.stderr);

    const execImp = fx.fake.lastImpersonation((r) => r.upgrade && r.path.endsWith('/exec'));
    assert.equal(execImp?.user, 'alice-k8s');
    const starts = await auditOf('kube.session.start');
    const ends = await auditOf('kube.session.end');
    assert.ok(starts.some((a) => a.actor === 'user:alice' && a.data.pod === 'shell' && a.data.kind === 'exec' && a.data.cluster === 'dev'));
    assert.ok(ends.some((a) => a.actor === 'user:alice' && a.data.pod === 'shell' && typeof a.reason === 'string'));
  });

  test('kubectl logs -f streams lines as they are written', async () => {
    const kc = { kubeconfig: fx.alice.kubeconfig };
    await runKubectl(['run', 'logger', '--image=busybox', '--restart=Never'], kc);
    await runKubectl(['wait', '--for=condition=Ready', 'pod/logger', '--timeout=10s'], kc);
    const child = await spawnKubectl(['logs', '-f', 'logger'], kc);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const seen = async (text: string) => {
      for (let i = 0; i < 250 && !out.includes(text); i++) await sleep(20);
      assert.ok(out.includes(text), `expected ${text} in ${out}`);
    };
    fx.fake.emitLog('default', 'logger', 'first marker line');
    await seen('first marker line');
    assert.ok(fx.kube.streams.list({ actor: 'user:alice' }).some((s) => s.kind === 'logs' && s.pod === 'logger'));
    fx.fake.emitLog('default', 'logger', 'second marker line');
    await seen('second marker line');
    child.kill();
    await once(child, 'close');
  });

  test('kubectl --as=admin is refused with a clear message and never reaches the API server', async () => {
    const before = fx.fake.requests.length;
    const r = await runKubectl(['--as=admin', 'get', 'pods'], { kubeconfig: fx.alice.kubeconfig });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /impersonation is not allowed through Tapgate/);
    assert.match(r.stderr, /alice-k8s/);
    assert.ok(fx.fake.requests.slice(before).every((x) => x.impersonation?.user !== 'admin'));
    const refusals = await fx.ctx.audit.list({ event: 'kube.request', outcome: 'refused' });
    assert.ok(refusals.some((a) => a.actor === 'user:alice' && /impersonation/.test(a.reason ?? '')));
  });
});

describe('bots and metrics', () => {
  test('a joined bot instance reaches its cluster as bot-<name>; a forged instance is refused', async () => {
    const admin = new BotAdmin({ db: fx.ctx.db, roles: fx.ctx.roles, audit: fx.ctx.audit, clock: fx.ctx.clock });
    await admin.addBot('ci', ['deploy']);
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const keys = await generateKeyPair();
    const joined = await botService(fx.ctx).join({ token: text, publicKey: keys.publicKeyPem });
    const r = await h1Request({ certPem: joined.certPem, keyPem: keys.privateKeyPem }, 'GET', '/k/dev/api/v1/namespaces/default/configmaps');
    assert.equal(r.status, 200, r.body);
    const imp = fx.fake.lastImpersonation((x) => x.path === '/api/v1/namespaces/default/configmaps');
    assert.equal(imp?.user, 'bot-ci');
    assert.deepEqual([...imp!.groups].sort(), ['deployers', 'system:authenticated']);

    // a certificate the bot CA signed for an instance that never joined (or was removed) gets nowhere
    const identity: Identity = { usage: 'bot', kind: 'bot', name: 'ci', roles: ['deploy'], kubeUsers: [], kubeGroups: [], clusters: ['dev'], botInstance: 'never-joined', generation: 1, renewable: true, joinToken: 'join-1' };
    const forged = await fx.ctx.cas.bot.issue({ publicKeyPem: keys.publicKeyPem, identity, ttlMs: 60 * 60_000 });
    const refused = await h1Request({ certPem: forged.certPem, keyPem: keys.privateKeyPem }, 'GET', '/k/dev/api/v1/namespaces/default/configmaps');
    assert.equal(refused.status, 403, refused.body);
    assert.equal(JSON.parse(refused.body).kind, 'Status');
  });

  test('a role created a moment ago is honoured at once (no wait for the role cache)', async () => {
    await fx.ctx.roles.upsert(parseRole({ kind: 'role', metadata: { name: 'fresh' }, spec: { kubernetes_groups: ['fresh-group'], kube_clusters: ['dev'] } }));
    const creds = await issue(fx, { name: 'kim', roles: ['fresh'], clusters: ['dev'] });
    const r = await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces/default/configmaps');
    assert.equal(r.status, 200, r.body);
    assert.ok(fx.fake.lastImpersonation()?.groups.includes('fresh-group'));
  });

  test('requests and refusals are counted by cluster and status', async () => {
    const text = await fx.ctx.metrics.registry.getSingleMetricAsString('tapgate_kube_requests_total');
    assert.match(text, /tapgate_kube_requests_total\{cluster="dev",code="200"\} \d+/);
    assert.match(text, /code="403"/);
    assert.match(await fx.ctx.metrics.registry.getSingleMetricAsString('tapgate_kube_active_streams'), /tapgate_kube_active_streams/);
  });
});

describe('headers the client must not control', () => {
  test('an Authorization header is replaced by the gate\'s own credentials (HTTP/1.1 and HTTP/2)', async () => {
    // cluster "tok" authenticates the gate with a bearer token; the client tries another token
    const attack = { authorization: 'Bearer client-secret-token' };
    const r1 = await h1Request(fx.alice, 'GET', '/k/tok/api/v1/namespaces/default/configmaps', attack);
    assert.equal(r1.status, 200, r1.body);
    const rec1 = fx.fake.requests.findLast((r) => r.path === '/api/v1/namespaces/default/configmaps')!;
    assert.equal(rec1.authUser?.username, 'fake-token-user');
    assert.equal(rec1.headers.authorization, `Bearer ${fx.fake.token}`);

    const s = h2Session(fx.alice);
    const r2 = await h2Request(s, '/k/tok/api/v1/namespaces/default/configmaps', attack);
    s.close();
    assert.equal(r2.status, 200, r2.body);
    const rec2 = fx.fake.requests.findLast((r) => r.path === '/api/v1/namespaces/default/configmaps')!;
    assert.equal(rec2.authUser?.username, 'fake-token-user');
    assert.equal(rec2.impersonation?.user, 'alice-k8s');
  });

  test('request bodies reach the API server over HTTP/1.1 and HTTP/2', async () => {
    const h1 = await h1Request(fx.alice, 'POST', '/k/dev/api/v1/namespaces/default/configmaps', { 'content-type': 'application/json' }, JSON.stringify(configMap('posted-h1')));
    assert.equal(h1.status, 201, h1.body);
    const s = h2Session(fx.alice);
    const h2 = await new Promise<number>((resolve, reject) => {
      const req = s.request({ ':method': 'POST', ':path': '/k/dev/api/v1/namespaces/default/configmaps', 'content-type': 'application/json' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.end(JSON.stringify(configMap('posted-h2')));
    });
    s.close();
    assert.equal(h2, 201);
    assert.equal(fx.fake.getObject('v1', 'configmaps', 'default', 'posted-h1')?.data?.k, 'v');
    assert.equal(fx.fake.getObject('v1', 'configmaps', 'default', 'posted-h2')?.data?.k, 'v');
  });

  test('Impersonate-* in any case, including -Uid and -Extra-*, is refused', async () => {
    for (const h of ['impersonate-user', 'IMPERSONATE-GROUP', 'Impersonate-Uid', 'Impersonate-Extra-Scopes']) {
      const r = await h1Request(fx.alice, 'GET', '/k/dev/api/v1/namespaces', { [h]: 'admin' });
      assert.equal(r.status, 403, h);
      const st = JSON.parse(r.body);
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, 'Forbidden');
      assert.match(st.message, /impersonation is not allowed/);
    }
  });

  test('an upgrade request carrying Impersonate-User is refused before it reaches the API server', async () => {
    const res = await rawUpgrade(fx.alice, '/k/dev/echo-upgrade', { 'Impersonate-User': 'admin' });
    assert.match(res.head, /^HTTP\/1\.1 403 /);
    assert.match(res.body, /impersonation is not allowed/);
  });
});

describe('refusals are kube Status objects', () => {
  test('an expired MFA certificate gets 401 MFARequired', async () => {
    const creds = await issue(fx, { name: 'bob', roles: ['dev'], clusters: ['dev'], ttlMs: 5 * 60_000 });
    assert.equal((await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces')).status, 200);
    fx.clock.offset = 10 * 60_000;
    try {
      const r = await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces');
      assert.equal(r.status, 401);
      const st = JSON.parse(r.body);
      assert.deepEqual(
        { kind: st.kind, apiVersion: st.apiVersion, status: st.status, reason: st.reason, code: st.code },
        { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'MFARequired', code: 401 },
      );
      assert.match(st.message, /tap your security key/);
      const k = await runKubectl(['get', 'pods'], { kubeconfig: creds.kubeconfig });
      assert.notEqual(k.code, 0);
      assert.match(k.stderr, /tap your security key/);
    } finally {
      fx.clock.offset = 0;
    }
  });

  test('a login certificate gets MFARequired', async () => {
    const creds = await issue(fx, { name: 'carol', roles: ['dev'], clusters: ['dev'], usage: 'login' });
    const r = await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces');
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).reason, 'MFARequired');
  });

  test('a cluster not named in the certificate, or not allowed by the roles, is 403', async () => {
    const creds = await issue(fx, { name: 'dave', roles: ['dev'], clusters: ['tok'] });
    const r = await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces');
    assert.equal(r.status, 403);
    const st = JSON.parse(r.body);
    assert.equal(st.reason, 'Forbidden');
    assert.match(st.message, /does not cover cluster "dev"/);

    const prod = await issue(fx, { name: 'erin', roles: ['prod-only'], clusters: ['dev'] });
    const r2 = await h1Request(prod, 'GET', '/k/dev/api/v1/namespaces');
    assert.equal(r2.status, 403);
    assert.match(JSON.parse(r2.body).message, /do not allow cluster "dev"/);
  });

  test('an API server that cannot be reached is a 503 Status naming the cluster, over HTTP/1.1 and HTTP/2', async () => {
    const carol = await issue(fx, { name: 'carol', roles: ['gone'], clusters: ['gone'] });
    const h1 = await h1Request(carol, 'GET', '/k/gone/api/v1/namespaces');
    const s = h2Session(carol);
    const h2 = await h2Request(s, '/k/gone/api/v1/namespaces');
    s.close();
    for (const r of [h1, h2]) {
      assert.equal(r.status, 503);
      assert.match(JSON.parse(r.body).message, /API server of cluster "gone" could not be reached through the gate/);
    }
  });

  test('an unknown cluster is 404 naming the clusters that can be used', async () => {
    const r = await h1Request(fx.alice, 'GET', '/k/nope/api/v1/namespaces');
    assert.equal(r.status, 404);
    const st = JSON.parse(r.body);
    assert.equal(st.reason, 'NotFound');
    assert.match(st.message, /"nope" is not configured/);
    assert.match(st.message, /dev, tok/);
  });

  test('a path with dot segments is refused instead of forwarded', async () => {
    const r = await h1Request(fx.alice, 'GET', '/k/dev/api/v1/../../apis');
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).reason, 'BadRequest');
  });

  test('no client certificate is 401 Unauthorized, not a TLS error', async () => {
    const r = await h1Request(undefined, 'GET', '/k/dev/api/v1/namespaces');
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).reason, 'Unauthorized');
  });

  test('repeated refusals on one connection are audited once per window', async () => {
    const creds = await issue(fx, { name: 'frank', roles: ['dev'], clusters: ['tok'] });
    const s = h2Session(creds);
    for (let i = 0; i < 5; i++) assert.equal((await h2Request(s, '/k/dev/api/v1/namespaces')).status, 403);
    s.close();
    const refused = (await auditOf('kube.request')).filter((a) => a.actor === 'user:frank');
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.equal(refused[0]!.outcome, 'refused');
  });
});

describe('streams and expiry', () => {
  test('a watch opened while the MFA certificate was valid keeps receiving events after it lapses', async () => {
    const creds = await issue(fx, { name: 'gina', roles: ['dev'], clusters: ['dev'], ttlMs: 5 * 60_000 });
    const w = openWatch(creds);
    assert.equal(await w.headersSeen, 200);
    fx.clock.offset = 10 * 60_000;
    try {
      fx.kube.streams.sweep();
      // new requests are refused, the open watch is not
      assert.equal((await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces')).status, 401);
      fx.fake.putObject(configMap('after-lapse'));
      await w.waitFor((l) => l.includes('after-lapse'));
      assert.ok(fx.kube.streams.list({ actor: 'user:gina' }).some((s) => s.kind === 'watch'));
    } finally {
      fx.clock.offset = 0;
      w.close();
    }
  });

  test('with disconnect_expired_cert the watch is cut at the MFA certificate\'s expiry', async (t) => {
    const creds = await issue(fx, { name: 'hank', roles: ['strict'], clusters: ['dev'], ttlMs: 5 * 60_000 });
    const w = openWatch(creds);
    assert.equal(await w.headersSeen, 200);
    fx.fake.putObject(configMap('before-cut'));
    await w.waitFor((l) => l.includes('before-cut'));
    fx.clock.offset = 10 * 60_000;
    try {
      const took = await endsWithin(w.ended, 5_000);
      t.diagnostic(`watch cut ${took} ms after the clock passed the certificate's expiry`);
      const last = JSON.parse(w.lines.at(-1)!);
      assert.equal(last.type, 'ERROR');
      assert.equal(last.object.reason, 'MFARequired');
      assert.match(last.object.message, /MFA certificate expired/);
      assert.equal(fx.kube.streams.list({ actor: 'user:hank' }).length, 0);
    } finally {
      fx.clock.offset = 0;
    }
  });

  test('a lock created mid-stream cuts a watch, kubectl get -w and kubectl logs -f promptly', async (t) => {
    const creds = await issue(fx, { name: 'ivan', roles: ['dev'], clusters: ['dev'] });
    const w = openWatch(creds);
    assert.equal(await w.headersSeen, 200);
    fx.fake.putObject(configMap('before-lock'));
    await w.waitFor((l) => l.includes('before-lock'));
    const kc = { kubeconfig: creds.kubeconfig };
    await runKubectl(['run', 'lock-logger', '--image=busybox', '--restart=Never'], kc);
    await runKubectl(['wait', '--for=condition=Ready', 'pod/lock-logger', '--timeout=10s'], kc);
    const getW = await spawnKubectl(['get', 'configmaps', '-w'], kc);
    const logsF = await spawnKubectl(['logs', '-f', 'lock-logger'], kc);
    const outputs = new Map<typeof getW, string>([[getW, ''], [logsF, '']]);
    for (const c of [getW, logsF]) {
      c.stdout!.on('data', (d: Buffer) => outputs.set(c, outputs.get(c)! + d.toString()));
      c.stderr!.on('data', (d: Buffer) => outputs.set(c, outputs.get(c)! + d.toString()));
    }
    const exited = (c: typeof getW) => new Promise<number | null>((resolve) => c.once('close', (code) => resolve(code)));
    const [getExit, logsExit] = [exited(getW), exited(logsF)];
    fx.fake.emitLog('default', 'lock-logger', 'before the lock');
    for (let i = 0; i < 250 && !(outputs.get(getW)!.includes('before-lock') && outputs.get(logsF)!.includes('before the lock')); i++) await sleep(20);
    assert.equal(fx.kube.streams.list({ actor: 'user:ivan' }).length, 3);

    const started = Date.now();
    const lock = await fx.ctx.locks.create({ targetKind: 'user', target: 'ivan', message: 'incident 42', createdBy: 'admin' });
    try {
      await endsWithin(Promise.all([w.ended, getExit, logsExit]), 5_000);
      t.diagnostic(`watch, get -w and logs -f all ended ${Date.now() - started} ms after the lock was created`);
      t.diagnostic(`kubectl get -w exited ${await getExit}: ${outputs.get(getW)!.trim().split('\n').pop()}`);
      t.diagnostic(`kubectl logs -f exited ${await logsExit}: ${outputs.get(logsF)!.trim().split('\n').pop()}`);
      // a JSON watch ends with an ERROR event naming the lock, which kubectl prints
      assert.match(outputs.get(getW)!, /Tapgate ended this watch: locked \(user ivan\): incident 42/);
      const last = JSON.parse(w.lines.at(-1)!);
      assert.equal(last.type, 'ERROR');
      assert.equal(last.object.code, 403);
      assert.equal(fx.kube.streams.list({ actor: 'user:ivan' }).length, 0);
      const r = await h1Request(creds, 'GET', '/k/dev/api/v1/namespaces');
      assert.equal(r.status, 403);
      assert.match(JSON.parse(r.body).message, /incident 42/);
    } finally {
      getW.kill();
      logsF.kill();
      await fx.ctx.locks.remove(lock.id, 'admin');
    }
  });

  test('a lock cuts a running kubectl exec and the session end is audited with the reason', async (t) => {
    const creds = await issue(fx, { name: 'judy', roles: ['dev'], clusters: ['dev'] });
    const kc = { kubeconfig: creds.kubeconfig };
    await runKubectl(['run', 'sleeper', '--image=busybox', '--restart=Never'], kc);
    await runKubectl(['wait', '--for=condition=Ready', 'pod/sleeper', '--timeout=10s'], kc);
    const exec = await spawnKubectl(['exec', 'sleeper', '--', 'sleep', '60'], kc);
    let stderr = '';
    exec.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => exec.once('close', (code) => resolve(code)));
    for (let i = 0; i < 250 && !fx.kube.streams.list({ actor: 'user:judy' }).some((x) => x.kind === 'exec'); i++) await sleep(20);
    const lock = await fx.ctx.locks.create({ targetKind: 'mfa_device', target: 'key-of-judy', message: 'key reported lost', createdBy: 'admin' });
    try {
      await endsWithin(exited, 5_000);
      t.diagnostic(`kubectl exec exited ${await exited}: ${stderr.trim()}`);
      assert.notEqual(await exited, 0);
      // the gate ends the WebSocket session with a Status on the error channel, which kubectl prints
      assert.match(stderr, /Tapgate ended this session: locked \(mfa_device key-of-judy\): key reported lost/);
      const end = (await auditOf('kube.session.end')).find((a) => a.actor === 'user:judy');
      assert.equal(end?.reason, 'locked');
      assert.match(String(end?.data.detail), /key reported lost/);
    } finally {
      exec.kill();
      await fx.ctx.locks.remove(lock.id, 'admin');
    }
  });
});

/** An HTTP/1.1 upgrade request over raw TLS; returns the response head, and the socket for the caller to use. */
async function rawUpgrade(creds: Pick<Creds, 'certPem' | 'keyPem'>, p: string, extra: Record<string, string> = {}, method = 'POST', upgrade = 'SPDY/3.1') {
  const u = new URL(fx.kube.url);
  const socket = tls.connect({ host: u.hostname, port: Number(u.port), ca: fx.ctx.tls.caPem, cert: creds.certPem, key: creds.keyPem, ALPNProtocols: ['http/1.1'] });
  await once(socket, 'secureConnect');
  const lines = [`${method} ${p} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', `Upgrade: ${upgrade}`, 'X-Stream-Protocol-Version: v4.channel.k8s.io', 'X-Stream-Protocol-Version: v3.channel.k8s.io'];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  let head = '';
  while (!head) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
    const i = buf.indexOf('\r\n\r\n');
    if (i >= 0) {
      head = buf.subarray(0, i).toString('latin1');
      buf = buf.subarray(i + 4);
    }
  }
  let body = buf.toString('utf8');
  if (!/^HTTP\/1\.1 101/.test(head)) {
    socket.on('data', (c: Buffer) => (body += c.toString('utf8')));
    await once(socket, 'close');
  }
  return { head, body, socket };
}

describe('upgrades', () => {
  test('a raw SPDY upgrade passes through and echoes both ways, with the gate\'s impersonation', async () => {
    const res = await rawUpgrade(fx.alice, '/k/dev/echo-upgrade', { Authorization: 'Bearer client-secret-token' });
    assert.match(res.head, /^HTTP\/1\.1 101 /);
    assert.match(res.head, /Upgrade: SPDY\/3\.1/i);
    res.socket.write('ping through the tunnel');
    const [echo] = (await once(res.socket, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'ping through the tunnel');
    const rec = fx.fake.requests.findLast((r) => r.upgrade && r.path === '/echo-upgrade')!;
    assert.equal(rec.impersonation?.user, 'alice-k8s');
    assert.equal(rec.authMethod, 'cert');
    assert.equal(rec.headers.authorization, undefined);
    assert.deepEqual(rec.rawHeaders.filter((_, i, a) => i % 2 === 1 && /^x-stream-protocol-version$/i.test(a[i - 1]!)), ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
    assert.ok(fx.kube.streams.list({ actor: 'user:alice' }).some((s) => s.kind === 'upgrade'));
    res.socket.destroy();
  });

  test('a non-101 answer is passed back with the API server\'s own status and body', async () => {
    const p = '/api/v1/namespaces/default/pods/shell/exec?command=true&stdout=true';
    const direct = await new Promise<{ head: string; body: string }>((resolve, reject) => {
      const u = new URL(fx.fake.url);
      const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: fx.fake.caPem, cert: fx.fake.clientCertPem, key: fx.fake.clientKeyPem, ALPNProtocols: ['http/1.1'] }, () => {
        s.write(`POST ${p} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`);
      });
      let text = '';
      s.on('data', (c: Buffer) => (text += c.toString('latin1')));
      s.on('error', reject);
      s.on('close', () => {
        const i = text.indexOf('\r\n\r\n');
        resolve({ head: text.slice(0, i), body: text.slice(i + 4) });
      });
    });
    const via = await rawUpgrade(fx.alice, `/k/dev${p}`);
    assert.equal(via.head.split('\r\n')[0], direct.head.split('\r\n')[0]);
    assert.match(via.head.split('\r\n')[0]!, /^HTTP\/1\.1 400 /);
    assert.equal(via.body, direct.body);
    assert.match(via.body, /supports only WebSocket upgrades/);
  });
});
