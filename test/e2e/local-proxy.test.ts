/**
 * Real kubectl 1.35 → the local kube proxy (Agent) → the real gate kube listener → the fake API
 * server; the one tap is done in Chromium with a virtual security key.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { ControlClient, ControlServer } from '../../src/client/control-socket';
import { spawnKubectl, runKubectl } from '../helpers/kubectl';
import { ok, startStack, stopChild, until, waitForOutput, type Person, type Stack } from './local-proxy-fixture';

let stack: Stack;
let s: Person & { dir: string; fake: Stack['fake'] };

const pod = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } });

async function runningPod(name: string): Promise<void> {
  ok(await s.k(['apply', '-f', '-'], { stdin: pod(name) }), `apply pod ${name}`);
  ok(await s.k(['wait', '--for=jsonpath={.status.phase}=Running', `pod/${name}`, '--timeout=20s']), `wait ${name}`);
}

before(async () => {
  stack = await startStack();
  s = { ...(await stack.person('alice', ['access'])), dir: stack.dir, fake: stack.fake };
});
after(() => stack?.close());

describe('kubectl through the local proxy', () => {
  test('the first call waits for the tap, which covers the later ones', async () => {
    const v = await s.k(['version', '-o', 'json']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).serverVersion.gitVersion, 'v1.35.0');
    assert.equal(s.prompt.shown.length, 1);
    assert.deepEqual(s.prompt.shown[0]!.clusters, ['dev']);
    const st = await s.agent.status();
    assert.equal(st.state, 'verified');
    assert.ok(st.mfaTtlMs! > 0);
    ok(await s.k(['api-resources']), 'api-resources');
    assert.equal(s.prompt.shown.length, 1, 'no second tap');
  });

  test('get -o json / -o yaml, apply, patch, delete', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { a: '1' } };
    assert.match(ok(await s.k(['apply', '-f', '-'], { stdin: JSON.stringify(cm) }), 'apply'), /configmap\/cfg (created|configured)/);
    assert.equal(JSON.parse(ok(await s.k(['get', 'configmap', 'cfg', '-o', 'json']), 'get json')).data.a, '1');
    assert.equal(YAML.parse(ok(await s.k(['get', 'configmap', 'cfg', '-o', 'yaml']), 'get yaml')).data.a, '1');
    ok(await s.k(['patch', 'configmap', 'cfg', '--type=merge', '-p', '{"data":{"a":"2"}}']), 'patch');
    assert.equal(ok(await s.k(['get', 'configmap', 'cfg', '-o', 'jsonpath={.data.a}']), 'get patched'), '2');
    ok(await s.k(['delete', 'configmap', 'cfg']), 'delete');
    const gone = await s.k(['get', 'configmap', 'cfg']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /NotFound|not found/);
  });

  test('get -w streams changes', async () => {
    const child = await spawnKubectl(['--context', 'tapgate-dev', 'get', 'configmaps', '-w', '--output-watch-events'], { kubeconfig: s.kubeconfig });
    try {
      await until(async () => (await s.agent.connections()).some((c) => c.kind === 'watch' && c.summary === 'watch configmaps -n default'), 'the watch');
      s.fake.putObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched', namespace: 'default' }, data: {} });
      await waitForOutput(child, (o) => o.includes('watched'));
    } finally {
      await stopChild(child);
    }
  });

  test('logs -f follows lines as they are written', async () => {
    await runningPod('logger');
    const child = await spawnKubectl(['--context', 'tapgate-dev', 'logs', '-f', 'logger'], { kubeconfig: s.kubeconfig });
    try {
      await until(() => s.fake.openStreams() > 0, 'the log stream to open');
      s.fake.emitLog('default', 'logger', 'marker one');
      await waitForOutput(child, (o) => o.includes('marker one'));
      const logs = await until(async () => (await s.agent.connections()).find((c) => c.kind === 'logs'), 'the logs connection');
      assert.equal(logs.summary, 'logs -f logger');
      s.fake.emitLog('default', 'logger', 'marker two');
      await waitForOutput(child, (o) => o.includes('marker two'));
    } finally {
      await stopChild(child);
    }
  });

  test('exec passes stdin, stdout and the exit code', async () => {
    await runningPod('shell');
    const echo = await s.k(['exec', '-i', 'shell', '--', 'cat'], { stdin: 'through the local proxy\n' });
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, 'through the local proxy\n');
    const fail = await s.k(['exec', 'shell', '--', 'sh', '-c', 'exit 3']);
    assert.equal(fail.code, 3, fail.stderr);
  });

  test('cp both ways', async () => {
    await runningPod('files');
    const src = join(s.dir, 'upload.txt');
    const body = `payload ${'x'.repeat(100_000)}\n`;
    writeFileSync(src, body);
    ok(await s.k(['cp', src, 'files:/tmp/upload.txt']), 'cp to pod');
    const dest = join(s.dir, 'down.txt');
    ok(await s.k(['cp', 'files:/tmp/upload.txt', dest]), 'cp from pod');
    assert.equal(readFileSync(dest, 'utf8'), body);
  });

  test('the tracker shows a running kubectl exec with its process; the control socket lists and disconnects it', async () => {
    const sock = join(s.dir, 'run', 'agent.sock');
    mkdirSync(join(s.dir, 'run'), { recursive: true });
    const server = await ControlServer.listen(s.agent, sock);
    const client = await ControlClient.connect(sock);
    const child = await spawnKubectl(['--context', 'tapgate-dev', 'exec', '-i', 'shell', '--', 'cat'], { kubeconfig: s.kubeconfig });
    const closed = once(child, 'close');
    try {
      child.stdin!.write('ping\n');
      await waitForOutput(child, (o) => o.includes('ping'));
      const exec = await until(async () => (await client.connections()).find((c) => c.kind === 'exec'), 'the exec connection');
      assert.equal(exec.cluster, 'dev');
      assert.equal(exec.summary, 'exec -i shell -- cat');
      assert.equal(exec.process?.pid, child.pid);
      assert.match(exec.process!.command, /^kubectl .*exec -i shell -- cat$/);
      assert.ok(exec.bytesIn > 0 && exec.bytesOut > 0);
      const st = await client.status();
      assert.equal(st.state, 'verified');
      assert.deepEqual(st.clusters, [{ name: 'dev', context: 'tapgate-dev' }]);
      assert.deepEqual(await client.disconnect({ id: exec.id }), { disconnected: true });
      await closed;
      assert.equal((await client.connections()).some((c) => c.id === exec.id), false);
    } finally {
      child.kill();
      client.close();
      await server.close();
    }
  });

  test('a client without the local client certificate is refused, and told which kubeconfig to use', async () => {
    const kc = YAML.parse(readFileSync(s.kubeconfig, 'utf8'));
    kc.users[0].user = { token: 'not-a-certificate' };
    const file = join(s.dir, 'no-cert.yaml');
    writeFileSync(file, YAML.stringify(kc), { mode: 0o600 });
    const before = s.fake.requests.length;
    const r = await runKubectl(['--context', 'tapgate-dev', 'get', 'pods'], { kubeconfig: file });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Warning: this is the Tapgate local kube proxy; it only accepts the client certificate in the kubeconfig it wrote: export KUBECONFIG=/);
    const raw = await runKubectl(['--context', 'tapgate-dev', 'get', '--raw', '/api/v1/namespaces/default/pods'], { kubeconfig: file });
    assert.match(raw.stderr, /You must be logged in to the server \(this is the Tapgate local kube proxy/);
    assert.equal(s.fake.requests.length, before, 'nothing reached the API server');
  });
});
