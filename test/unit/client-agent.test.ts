import assert from 'node:assert/strict';
import { promises as fs, statSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from '../../src/client/agent';
import type { AgentPush, PendingTap } from '../../src/client/agent-types';
import { ControlClient, ControlServer, controlSocketPath } from '../../src/client/control-socket';
import type { TapPrompt } from '../../src/client/tap-prompt';
import { ManualClock } from '../../src/core/clock';
import { startStubGate, type StubGate } from './client-stub-gate';

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('agent', () => {
  let gate: StubGate;
  let agent: Agent;
  let home: string;
  let clock: ManualClock;
  const shown: PendingTap[] = [];
  const prompt: TapPrompt = { show: (p) => shown.push(p), close: () => {} };

  before(async () => {
    gate = await startStubGate({ intervalMs: 10 * 60_000 });
    home = await fs.mkdtemp(join(tmpdir(), 'tapgate-agent-'));
    clock = new ManualClock(Date.now());
    agent = await Agent.start({
      clusters: ['dev', 'prod'],
      kubeUrl: gate.kubeUrl,
      login: { profile: { server: 'https://gate.invalid:3025', user: 'alice', caPem: gate.caPem, loginExpires: Date.now() + 12 * 3_600_000, roles: ['access'] }, certPem: '', keyPem: '' },
      issuer: gate.issuer,
      prompt,
      clock,
      home,
      kubeconfigName: 'agent',
    });
  });
  after(async () => {
    await agent.close();
    await gate.close();
    await fs.rm(home, { recursive: true, force: true });
  });

  test('starts with no MFA session and a kubeconfig', async () => {
    const s = await agent.status();
    assert.equal(s.state, 'no-session');
    assert.equal(s.user, 'alice');
    assert.deepEqual(s.clusters, [
      { name: 'dev', context: 'tapgate-dev' },
      { name: 'prod', context: 'tapgate-prod' },
    ]);
    assert.equal(s.kubeconfigPath, join(home, 'kube', 'agent.yaml'));
    assert.equal(statSync(s.kubeconfigPath!).mode & 0o777, 0o600);
  });

  test('a held request shows as waiting-for-tap with the request; the tap makes it verified', async () => {
    const t = agent['proxy'].localTls;
    const c = http2.connect(agent.proxyUrl, { ca: t.caPem, cert: t.clientCertPem, key: t.clientKeyPem });
    try {
      const req = c.request({ ':path': '/k/prod/api/v1/namespaces/payments/pods' });
      let status = 0;
      req.on('response', (h) => (status = h[':status'] as number));
      req.resume();
      const ended = new Promise((r) => req.on('end', r));
      await until(async () => (await agent.status()).pendingTap?.held.length === 1);
      const s = await agent.status();
      assert.equal(s.state, 'waiting-for-tap');
      assert.equal(s.pendingTap!.held[0]!.summary, 'get pods -n payments');
      assert.equal(s.pendingTap!.held[0]!.state, 'held');
      assert.equal(s.pendingTap!.held[0]!.process?.pid, process.pid, 'the client process (this test) is known');
      await gate.issuer.tap();
      await ended;
      assert.equal(status, 200);
      const v = await agent.status();
      assert.equal(v.state, 'verified');
      assert.equal(v.mfaTtlMs, 10 * 60_000);
      assert.ok(v.mfaExpires! > clock.now());
    } finally {
      c.destroy();
    }
  });

  test('the exec plugin is served from memory while the interval lasts, with the requested ttl', async () => {
    const before = gate.issuer.requests.length;
    const a = await agent.credentials({ cluster: 'dev', ttlMs: 5 * 60_000 });
    const b = await agent.credentials({ cluster: 'prod' });
    assert.equal(gate.issuer.requests.length, before, 'no new tap');
    assert.equal(a.apiVersion, 'client.authentication.k8s.io/v1');
    assert.match(a.status.clientCertificateData, /BEGIN CERTIFICATE/);
    assert.match(a.status.clientKeyData, /PRIVATE KEY/);
    const expA = Date.parse(a.status.expirationTimestamp);
    const expB = Date.parse(b.status.expirationTimestamp);
    assert.ok(Math.abs(expA - (clock.now() + 5 * 60_000)) < 1000, 'capped at the requested ttl');
    assert.ok(expB > expA, 'without --ttl: the certificate lifetime');
  });

  test('lapsing under a minute, then lapsed with one event', async () => {
    const s = await agent.status();
    clock.set(s.mfaExpires! - 30_000);
    assert.equal((await agent.status()).state, 'lapsing');
    clock.set(s.mfaExpires! + 1);
    assert.equal((await agent.status()).state, 'no-session');
    await agent.status();
    const lapsed = (await agent.events()).filter((e) => e.kind === 'lapsed');
    assert.equal(lapsed.length, 1);
    assert.deepEqual(
      (await agent.events()).map((e) => e.kind),
      ['tap-needed', 'verified', 'lapsed'],
    );
    clock.set(Date.now());
  });

  test('control socket: status, subscribe, verify now, cancel, disconnect', async () => {
    const path = join(home, 'agent.sock');
    const server = await ControlServer.listen(agent, path);
    try {
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await assert.rejects(ControlServer.listen(agent, path), /another tapgate agent is already running/);
      const client = await ControlClient.connect(path);
      const pushes: AgentPush[] = [];
      client.subscribe((p) => pushes.push(p));
      const s = await client.status();
      assert.equal(s.user, 'alice');
      const v = await client.verifyNow();
      assert.equal(v.state, 'waiting-for-tap');
      assert.match(v.pendingTap!.tapUrl, /stub\.invalid\/tap/);
      await until(() => pushes.some((p) => p.event === 'status' && p.data.state === 'waiting-for-tap'));
      const c = await client.cancelTap();
      assert.notEqual(c.state, 'waiting-for-tap');
      assert.deepEqual(await client.disconnect({ id: 'c999' }), { disconnected: false });
      await assert.rejects(client.call('nope'), /unknown method "nope"/);
      await assert.rejects(client.call('disconnect', {}), /disconnect: id/);
      client.close();
    } finally {
      await server.close();
    }
  });

  test('a stale socket file is replaced', async () => {
    const path = join(home, 'stale.sock');
    writeFileSync(path, '');
    const server = await ControlServer.listen(agent, path);
    const client = await ControlClient.connect(path);
    assert.equal((await client.status()).user, 'alice');
    client.close();
    await server.close();
    await assert.rejects(ControlClient.connect(path), /no tapgate agent is running/);
  });
});

test('control socket path: TAPGATE_HOME, then XDG_RUNTIME_DIR, then ~/.tapgate; a pipe on Windows', () => {
  assert.equal(controlSocketPath({ TAPGATE_HOME: '/h' }, 'linux'), '/h/agent.sock');
  assert.equal(controlSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux'), '/run/user/1000/tapgate/agent.sock');
  assert.match(controlSocketPath({}, 'linux'), /\.tapgate\/agent\.sock$/);
  assert.match(controlSocketPath({}, 'win32'), /^\\\\\.\\pipe\\tapgate-agent-/);
  assert.equal(controlSocketPath({ TAPGATE_AGENT_SOCKET: '/x.sock', TAPGATE_HOME: '/h' }, 'linux'), '/x.sock');
});
