/**
 * Real kubectl 1.35 against the fake API server, directly (no Tapgate in between).
 * Proves the fake is faithful enough to stand in for kube-apiserver in the other suites.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import http2 from 'node:http2';

import { startFakeApiServer } from '../fake-apiserver/index';
import { runKubectl, spawnKubectl } from '../helpers/kubectl';

async function setup(t: { after: (fn: () => unknown) => void }, opts: Parameters<typeof startFakeApiServer>[0] = {}) {
  const server = await startFakeApiServer({ logIntervalMs: 100, ...opts });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fake-apiserver-e2e-'));
  const kubeconfig = await server.writeKubeconfig(path.join(dir, 'kubeconfig'));
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const k = (args: string[], o: { stdin?: string | Buffer; timeoutMs?: number } = {}) =>
    runKubectl(args, { kubeconfig, timeoutMs: 30_000, ...o });
  return { server, dir, kubeconfig, k };
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what} failed (code ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Wait until `pred(output so far)` holds, or fail after timeoutMs. */
function waitForOutput(child: ChildProcess, pred: (out: string) => boolean, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for output; got:\n${out}\nstderr:\n${err}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (pred(out)) {
        cleanup();
        resolve(out);
      }
    };
    const onErr = (d: Buffer) => {
      err += d.toString('utf8');
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`kubectl exited (${code}) before expected output; got:\n${out}\nstderr:\n${err}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onErr);
    child.on('exit', onExit);
  });
}

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createPod(k: (a: string[], o?: { stdin?: string }) => Promise<{ code: number; stdout: string; stderr: string }>, name: string) {
  const manifest = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: { containers: [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'GREETING', value: 'hello' }] }] },
  });
  ok(await k(['apply', '-f', '-'], { stdin: manifest }), 'apply pod');
  ok(await k(['wait', '--for=jsonpath={.status.phase}=Running', `pod/${name}`, '--timeout=20s']), 'wait running');
}

test('discovery, version and namespaces', async (t) => {
  const { k } = await setup(t);
  const v = ok(await k(['version', '-o', 'json']), 'version');
  const vj = JSON.parse(v);
  assert.equal(vj.serverVersion.gitVersion, 'v1.35.0');
  assert.match(vj.clientVersion.gitVersion, /^v1\.35\./);

  const ar = ok(await k(['api-resources']), 'api-resources');
  for (const re of [/^pods\s+po\s+v1\s+true\s+Pod$/m, /^configmaps\s+cm\s+v1\s+true\s+ConfigMap$/m, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m, /^selfsubjectreviews\s+authentication\.k8s\.io\/v1\s+false\s+SelfSubjectReview$/m]) {
    assert.match(ar, re);
  }

  const ns = ok(await k(['get', 'ns']), 'get ns');
  assert.match(ns, /^NAME\s+STATUS\s+AGE$/m);
  assert.match(ns, /^default\s+Active\s+/m);
  assert.match(ns, /^kube-system\s+Active\s+/m);

  ok(await k(['create', 'namespace', 'team-a']), 'create ns');
  assert.match(ok(await k(['get', 'ns', 'team-a', '-o', 'name']), 'get ns name'), /^namespace\/team-a$/m);
  const missing = await k(['get', 'ns', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /NotFound.*namespaces "nope" not found/);
});

test('configmaps: create, get json/yaml, apply twice, patch, delete', async (t) => {
  const { k, dir, server } = await setup(t);
  ok(await k(['create', 'configmap', 'cfg', '--from-literal=a=1', '--from-literal=b=2']), 'create cm');
  const dup = await k(['create', 'configmap', 'cfg', '--from-literal=a=1']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /AlreadyExists|already exists/);

  const j = JSON.parse(ok(await k(['get', 'cm', 'cfg', '-o', 'json']), 'get cm json'));
  assert.equal(j.kind, 'ConfigMap');
  assert.deepEqual(j.data, { a: '1', b: '2' });
  assert.ok(j.metadata.uid && j.metadata.resourceVersion && j.metadata.creationTimestamp);

  const y = ok(await k(['get', 'cm', 'cfg', '-o', 'yaml']), 'get cm yaml');
  assert.match(y, /^kind: ConfigMap$/m);
  assert.match(y, /^ {2}a: "1"$/m);

  const table = ok(await k(['get', 'cm']), 'get cm table');
  assert.match(table, /^NAME\s+DATA\s+AGE$/m);
  assert.match(table, /^cfg\s+2\s+/m);

  // apply (client-side, default validation) twice: create, then change
  const manifest = (b: string, extra = '') => `apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  labels:
    tier: web
data:
  a: "1"
  b: "${b}"
${extra}`;
  await writeFile(path.join(dir, 'cm.yaml'), manifest('2'));
  assert.match(ok(await k(['apply', '-f', path.join(dir, 'cm.yaml')]), 'apply 1'), /configmap\/applied created/);
  await writeFile(path.join(dir, 'cm.yaml'), manifest('3', '  c: "4"\n'));
  assert.match(ok(await k(['apply', '-f', path.join(dir, 'cm.yaml')]), 'apply 2'), /configmap\/applied configured/);
  assert.match(ok(await k(['apply', '-f', path.join(dir, 'cm.yaml')]), 'apply 3'), /configmap\/applied unchanged/);
  const applied = JSON.parse(ok(await k(['get', 'cm', 'applied', '-o', 'json']), 'get applied'));
  assert.deepEqual(applied.data, { a: '1', b: '3', c: '4' });
  assert.ok(applied.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  assert.ok(server.requests.some((r) => r.method === 'PATCH' && r.headers['content-type'] === 'application/strategic-merge-patch+json'));

  // server-side apply as well
  assert.match(ok(await k(['apply', '--server-side', '-f', path.join(dir, 'cm.yaml')]), 'apply ssa'), /serverside-applied/);

  // patch flavours
  ok(await k(['patch', 'cm', 'applied', '-p', '{"data":{"z":"9"}}']), 'patch smp');
  ok(await k(['patch', 'cm', 'applied', '--type=merge', '-p', '{"data":{"a":null}}']), 'patch merge');
  ok(await k(['patch', 'cm', 'applied', '--type=json', '-p', '[{"op":"add","path":"/data/j","value":"k"}]']), 'patch json');
  const patched = JSON.parse(ok(await k(['get', 'cm', 'applied', '-o', 'json']), 'get patched'));
  assert.deepEqual(patched.data, { b: '3', c: '4', j: 'k', z: '9' });

  // label selector
  const sel = ok(await k(['get', 'cm', '-l', 'tier=web', '-o', 'name']), 'get -l');
  assert.equal(sel.trim(), 'configmap/applied');

  // delete
  assert.match(ok(await k(['delete', 'cm', 'applied']), 'delete'), /configmap "applied" deleted/);
  const gone = await k(['get', 'cm', 'applied']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /configmaps "applied" not found/);
});

test('get pods -w sees a pod appear', async (t) => {
  const { k, kubeconfig } = await setup(t);
  const watcher = await spawnKubectl(['get', 'pods', '-w'], { kubeconfig });
  t.after(() => {
    watcher.kill('SIGKILL');
  });
  // the list comes back empty first ("No resources found" on stderr), then the watch runs
  await new Promise((r) => setTimeout(r, 500));
  const seen = waitForOutput(watcher, (out) => /^watched\s+1\/1\s+Running\s+0\s+/m.test(out));
  await createPod(k, 'watched');
  const out = await seen;
  assert.match(out, /^watched\s+0\/1\s+Pending/m);
});

test('logs -f streams and emitLog lines arrive', async (t) => {
  const { k, kubeconfig, server } = await setup(t);
  await createPod(k, 'logger');
  const plain = ok(await k(['logs', 'logger']), 'logs');
  assert.match(plain, /logger log line 1/);

  const follower = await spawnKubectl(['logs', '-f', 'logger'], { kubeconfig });
  t.after(() => {
    follower.kill('SIGKILL');
  });
  await waitForOutput(follower, (out) => /logger log line 5/.test(out));
  const marker = waitForOutput(follower, (out) => out.includes('custom marker line'));
  server.emitLog('default', 'logger', 'custom marker line');
  await marker;
  assert.ok(server.openStreams() >= 1);
  follower.kill('SIGKILL');
});

test('exec: stdin, env, exit codes', async (t) => {
  const { k, server } = await setup(t);
  await createPod(k, 'box');
  assert.equal(ok(await k(['exec', 'box', '--', 'echo', 'hello', 'world']), 'exec echo'), 'hello world\n');
  assert.equal(ok(await k(['exec', '-i', 'box', '--', 'cat'], { stdin: 'line one\nline two\n' }), 'exec cat'), 'line one\nline two\n');
  assert.match(ok(await k(['exec', 'box', '--', 'env']), 'exec env'), /^GREETING=hello$/m);

  const r3 = await k(['exec', 'box', '--', 'sh', '-c', 'exit 3']);
  assert.equal(r3.code, 3, r3.stderr);
  const r0 = await k(['exec', 'box', '--', 'sh', '-c', 'echo out; echo err >&2; exit 0']);
  assert.equal(r0.code, 0, r0.stderr);
  assert.equal(r0.stdout, 'out\n');
  assert.equal(r0.stderr, 'err\n');

  const bad = await k(['exec', 'box', '--', 'no-such-binary']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /executable file not found/);

  const session = server.execSessions.find((s) => s.command.join(' ') === 'cat');
  assert.ok(session);
  assert.equal(session.protocol, 'v5.channel.k8s.io');
  assert.equal(session.stdinBytes, 'line one\nline two\n'.length);
});

test('kubectl cp in both directions', async (t) => {
  const { k, dir } = await setup(t);
  await createPod(k, 'files');
  const src = path.join(dir, 'upload.txt');
  const body = `payload ${'x'.repeat(5000)}\n`;
  await writeFile(src, body);
  ok(await k(['cp', src, 'files:/tmp/upload.txt']), 'cp to pod');
  assert.equal(ok(await k(['exec', 'files', '--', 'cat', '/tmp/upload.txt']), 'cat uploaded'), body);

  // a directory too
  await mkdir(path.join(dir, 'tree', 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'tree', 'sub', 'a.txt'), 'AAA');
  ok(await k(['cp', path.join(dir, 'tree'), 'files:/tmp/tree']), 'cp dir to pod');
  assert.match(ok(await k(['exec', 'files', '--', 'ls', '/tmp/tree/sub']), 'ls'), /^a\.txt$/m);

  ok(await k(['exec', 'files', '--', 'sh', '-c', 'echo from-the-pod > /tmp/down.txt']), 'write in pod');
  const dest = path.join(dir, 'down.txt');
  ok(await k(['cp', 'files:/tmp/down.txt', dest]), 'cp from pod');
  assert.equal(await readFile(dest, 'utf8'), 'from-the-pod\n');

  const destTree = path.join(dir, 'tree-back');
  ok(await k(['cp', 'files:/tmp/tree', destTree]), 'cp dir from pod');
  assert.equal(await readFile(path.join(destTree, 'sub', 'a.txt'), 'utf8'), 'AAA');
});

test('attach -i echoes stdin; port-forward (SPDY over WebSocket and plain SPDY) reaches an echo port', async (t) => {
  const { k, kubeconfig, server } = await setup(t);
  await createPod(k, 'svc');
  const att = await k(['attach', '-i', 'svc'], { stdin: 'to-the-main-process\n' });
  assert.equal(ok(att, 'attach'), 'to-the-main-process\n');

  for (const websockets of ['true', 'false']) {
    const pf = await spawnKubectl(['port-forward', 'pod/svc', ':8080'], { kubeconfig, env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: websockets } });
    t.after(() => {
      pf.kill('SIGKILL');
    });
    const out = await waitForOutput(pf, (o) => /Forwarding from 127\.0\.0\.1:\d+ -> 8080/.test(o));
    const port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    const payload = `ping ${websockets} ${'y'.repeat(70_000)}`;
    const echoed = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write(payload));
      let b = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => {
        b += d;
        if (b.length >= payload.length) {
          c.end();
          resolve(b);
        }
      });
      c.on('error', reject);
    });
    assert.equal(echoed, payload);
    pf.kill('SIGKILL');
  }
  assert.deepEqual(server.portForwards.map((p) => p.transport), ['spdy-over-websocket', 'spdy']);
  assert.equal(server.portForwards[0]!.forwarded[0]!.port, 8080);
  await until(() => server.openStreams() === 0);
});

test('auth whoami reflects impersonation; bearer token and 401', async (t) => {
  const { k, server, dir } = await setup(t);
  const me = ok(await k(['auth', 'whoami', '-o', 'json']), 'whoami');
  assert.equal(JSON.parse(me).status.userInfo.username, 'fake-admin');

  const as = JSON.parse(ok(await k(['auth', 'whoami', '-o', 'json', '--as=someone', '--as-group=devs', '--as-uid=u-1']), 'whoami --as'));
  assert.equal(as.status.userInfo.username, 'someone');
  assert.deepEqual(as.status.userInfo.groups, ['devs', 'system:authenticated']);
  assert.equal(as.status.userInfo.uid, 'u-1');
  const imp = server.lastImpersonation((r) => r.path.endsWith('/selfsubjectreviews'));
  assert.deepEqual(imp, { user: 'someone', uid: 'u-1', groups: ['devs'], extra: {} });

  const tokenKc = await server.writeKubeconfig(path.join(dir, 'token-kubeconfig'), { auth: 'token' });
  const tk = await runKubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: tokenKc });
  assert.equal(JSON.parse(ok(tk, 'whoami token')).status.userInfo.username, 'fake-token-user');
  const last = server.requests.at(-1)!;
  assert.equal(last.headers.authorization, `Bearer ${server.token}`);

  const badKc = await server.writeKubeconfig(path.join(dir, 'bad-kubeconfig'), { token: 'wrong' });
  const denied = await runKubectl(['get', 'pods'], { kubeconfig: badKc });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Unauthorized|provide credentials/);
});

test('HTTP/2, HTTP/1.1 keep-alive, raw upgrade echo and 401 Status', async (t) => {
  const { server } = await setup(t);
  const ca = server.caPem;

  // HTTP/2
  const session = http2.connect(server.url, { ca, cert: server.clientCertPem, key: server.clientKeyPem });
  t.after(() => session.close());
  const h2body = await new Promise<string>((resolve, reject) => {
    const req = session.request({ ':path': '/api/v1/namespaces' });
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
  assert.equal(JSON.parse(h2body).kind, 'NamespaceList');

  // HTTP/1.1 unauthenticated → real 401 Status
  const unauth = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(`${server.url}/api/v1/pods`, { ca, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(unauth.status, 401);
  assert.deepEqual(JSON.parse(unauth.body), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });

  // HTTP/1.1 keep-alive: sequential requests reuse one connection
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca, cert: server.clientCertPem, key: server.clientKeyPem });
  t.after(() => agent.destroy());
  const socketsSeen = new Set<unknown>();
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(`${server.url}/version`, { agent }, (res) => {
        socketsSeen.add(res.socket);
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
  }
  assert.equal(socketsSeen.size, 1);
  assert.equal(server.requests.at(-1)!.httpVersion, '1.1');

  // watch over HTTP/1.1: headers flushed at once, chunked newline-delimited events from a resourceVersion
  const rv = server.resourceVersion();
  const events = await new Promise<{ type: string; object: { metadata: { name: string } } }[]>((resolve, reject) => {
    const req = httpsRequest(`${server.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`, { agent: false, ca, cert: server.clientCertPem, key: server.clientKeyPem }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      let buf = '';
      const got: { type: string; object: { metadata: { name: string } } }[] = [];
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          got.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
        if (got.length === 3) {
          req.destroy();
          resolve(got);
        }
      });
      // headers arrived before any event exists: now make some
      server.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1', namespace: 'default' }, data: { a: '1' } });
      server.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1', namespace: 'default' }, data: { a: '2' } });
      server.deleteObject('v1', 'configmaps', 'default', 'w1');
    });
    req.on('error', (e) => (e.message.includes('aborted') || e.message.includes('socket hang up') ? undefined : reject(e)));
    req.end();
  });
  assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);

  // raw SPDY-style upgrades: 404 Status for a missing pod, 101 + byte echo otherwise
  const rawUpgrade = (p: string) =>
    new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: server.port, ca, cert: server.clientCertPem, key: server.clientKeyPem, ALPNProtocols: ['http/1.1'] }, () => {
        sock.write(`POST ${p} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n`);
      });
      let buf = '';
      let sent = false;
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        if (!sent && buf.startsWith('HTTP/1.1 101') && buf.includes('\r\n\r\n')) {
          sent = true;
          sock.write('ping-bytes');
        }
        if (buf.endsWith('\r\n\r\nping-bytes')) sock.destroy();
      });
      sock.on('close', () => resolve(buf));
      sock.on('error', reject);
    });
  const missing = await rawUpgrade('/api/v1/namespaces/default/pods/nope/portforward');
  assert.match(missing, /^HTTP\/1\.1 404 /);
  assert.equal(JSON.parse(missing.slice(missing.indexOf('\r\n\r\n') + 4)).reason, 'NotFound');
  for (const p of ['/echo-upgrade', '/api/v1/namespaces/default/pods/echo/portforward']) {
    if (p.includes('/pods/')) server.putObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'echo', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const viaEcho = await rawUpgrade(p);
    assert.match(viaEcho, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(viaEcho, /\r\nUpgrade: SPDY\/3\.1\r\n/);
    assert.ok(viaEcho.endsWith('\r\n\r\nping-bytes'));
  }
  await until(() => server.openStreams() === 0);
});
