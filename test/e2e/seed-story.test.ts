/**
 * The seed's story (Teleport #36638), end to end with real kubectl 1.35, the real gate, the local
 * proxy and taps in Chromium with a virtual security key: a tap opens a short MFA interval;
 * when it lapses the next kubectl call is held (not failed) until the next tap; streams opened
 * before the lapse keep running (unless the role cuts them); locks cut them; the exec plugin
 * serves k9s-style repeated calls from the agent without a tap each time.
 * Intervals are a few real seconds; nothing asserts how long things took.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ControlServer } from '../../src/client/control-socket';
import { runKubectl, spawnKubectl } from '../helpers/kubectl';
import { ok, startStack, stopChild, until, waitForOutput, type Person, type Stack } from './local-proxy-fixture';

const INTERVAL = '6s';
const roles = [
  { kind: 'role', metadata: { name: 'seed' }, spec: { kube_clusters: ['dev'], kubernetes_groups: ['developers'], mfa_verification_interval: INTERVAL } },
  { kind: 'role', metadata: { name: 'strict' }, spec: { kube_clusters: ['dev'], mfa_verification_interval: INTERVAL, disconnect_expired_cert: true } },
  { kind: 'role', metadata: { name: 'k9s' }, spec: { kube_clusters: ['dev'], mfa_verification_interval: '10m' } },
];

const BIN = new URL('../../bin/tapgate.mjs', import.meta.url).pathname;

let stack: Stack;
before(async () => {
  stack = await startStack({ roles });
});
after(() => stack?.close());

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: {} });

/** Waits (in real time) until the person's MFA certificate has lapsed. */
async function lapse(p: Person): Promise<void> {
  await until(async () => {
    const s = await p.agent.status();
    return s.mfaExpires !== undefined && s.mfaExpires <= s.now && s.state !== 'waiting-for-tap';
  }, 'the MFA interval to lapse', 30_000);
}

async function taps(user: string): Promise<number> {
  return (await stack.tg.audit({ event: 'mfa.tap', outcome: 'ok', actor: `user:${user}` })).length;
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

describe('the seed story: tap, lapse, held call, tap again', () => {
  let alice: Person;
  let watch: ChildProcess;
  let watched = '';
  let watchErr = '';

  before(async () => {
    alice = await stack.person('alice', ['seed'], { autoTap: false });
  });
  after(() => {
    if (watch && running(watch)) watch.kill();
  });

  test('the first kubectl call waits for the first tap, then works', async () => {
    const call = alice.k(['get', 'pods']);
    const p = await alice.prompt.next();
    assert.deepEqual(p.clusters, ['dev']);
    await alice.tap(p.tapUrl);
    const r = await call;
    assert.equal(r.code, 0, r.stderr);
    const s = await alice.agent.status();
    assert.ok(s.state === 'verified' || s.state === 'lapsing', s.state);
    assert.equal(s.mfaTtlMs, 6000, 'the role interval caps the MFA lifetime');
    // the interval is short: on a busy machine the next steps may need a tap too, which is not what they test
    alice.prompt.autoTap = true;
    ok(await alice.k(['apply', '-f', '-'], { stdin: JSON.stringify(cm('before-lapse')) }), 'apply');
  });

  test('a watch opened while verified', async () => {
    watch = await spawnKubectl(['--context', 'tapgate-dev', 'get', 'configmaps', '-w', '-o', 'name'], { kubeconfig: alice.kubeconfig });
    watch.stdout!.on('data', (d: Buffer) => (watched += d.toString()));
    watch.stderr!.on('data', (d: Buffer) => (watchErr += d.toString()));
    await until(() => watched.includes('configmap/before-lapse'), 'the watch to list');
    await until(async () => (await alice.agent.connections()).some((c) => c.kind === 'watch' && c.state === 'active'), 'the watch stream');
  });

  test('after the lapse the next kubectl call is held, not failed, until the tap', async () => {
    alice.prompt.autoTap = false;
    await lapse(alice);
    const shownBefore = alice.prompt.shown.length;
    let finished = false;
    const call = alice.k(['apply', '-f', '-'], { stdin: JSON.stringify(cm('after-lapse')) }).finally(() => (finished = true));
    const p = await alice.prompt.next(shownBefore);
    const s = await until(async () => {
      const st = await alice.agent.status();
      return st.pendingTap?.held.length ? st : undefined;
    }, 'the held request in the status');
    assert.equal(s.state, 'waiting-for-tap');
    assert.equal(s.pendingTap!.tapUrl, p.tapUrl);
    const held = s.pendingTap!.held[0]!;
    assert.equal(held.state, 'held');
    assert.equal(held.cluster, 'dev');
    assert.match(held.process?.command ?? '', /^kubectl .*apply -f -/);
    assert.equal(finished, false, 'kubectl is still waiting');
    await alice.tap(s.pendingTap!.tapUrl);
    const r = await call;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configmap\/after-lapse (created|configured)/);
    assert.match((await alice.agent.status()).state, /verified|lapsing/);
    alice.prompt.autoTap = true;
  });

  test('the watch opened before the lapse kept receiving events', async () => {
    await until(() => watched.includes('configmap/after-lapse'), `the event after the lapse (watch output: ${watched}; ${watchErr})`);
    assert.ok(running(watch), watchErr);
  });

  test('kubectl --as=admin cannot escalate', async () => {
    const before = stack.fake.requests.length;
    const r = await alice.k(['--as=admin', 'get', 'pods']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /impersonation/i);
    assert.ok(stack.fake.requests.slice(before).every((x) => x.impersonation?.user !== 'admin'));
  });

  test('a lock ends the watch at once', async () => {
    assert.ok(running(watch));
    await stack.tg.gate.ctx.locks.create({ targetKind: 'user', target: 'alice', message: 'seed story', createdBy: 'admin' });
    await until(() => !running(watch), 'the watch to end after the lock (the gate cuts within a second; slack for a busy machine)', 5000);
    const r = await alice.k(['get', 'pods']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /access is locked \(user alice\)/);
    assert.ok((await alice.agent.events()).some((e) => e.kind === 'locked'), 'the agent reports the lock');
  });
});

describe('disconnect_expired_cert', () => {
  test('a watch ends when the MFA certificate expires', async () => {
    const bob = await stack.person('bob', ['strict']);
    ok(await bob.k(['get', 'pods']), 'first call (auto tap)');
    const child = await spawnKubectl(['--context', 'tapgate-dev', 'get', 'configmaps', '-w', '-o', 'name'], { kubeconfig: bob.kubeconfig });
    try {
      await waitForOutput(child, (o) => o.includes('configmap/'));
      await until(() => !running(child), 'the watch to be cut at expiry', 30_000);
    } finally {
      await stopChild(child);
    }
  });
});

describe('the exec plugin (k9s, Lens)', () => {
  test('repeated calls are served from the agent without another tap while the interval lasts', async () => {
    const carol = await stack.person('carol', ['k9s']);
    const sock = join(stack.dir, 'carol-run', 'agent.sock');
    mkdirSync(join(stack.dir, 'carol-run'), { recursive: true });
    const control = await ControlServer.listen(carol.agent, sock);
    try {
      const env = { ...process.env, TAPGATE_HOME: carol.login.home, TAPGATE_AGENT_SOCKET: sock };
      const kubeconfig = join(stack.dir, 'carol-exec.yaml');
      const login = await run(['kube', 'login', 'dev', '--kubeconfig', kubeconfig, '--kube-url', stack.tg.gate.kubeUrl!], env);
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Wrote context tapgate-dev/);
      const before = await taps('carol');
      for (let i = 0; i < 3; i++) {
        const r = await runKubectl(['get', 'configmaps'], { kubeconfig, env });
        assert.equal(r.code, 0, r.stderr);
      }
      assert.equal((await taps('carol')) - before, 1, 'one tap for three kubectl processes');
      const cred = await run(['kube', 'credentials', '--cluster', 'dev', '--ttl', '2m'], env);
      assert.equal(cred.code, 0, cred.stderr);
      const ec = JSON.parse(cred.stdout);
      assert.equal(ec.kind, 'ExecCredential');
      const left = Date.parse(ec.status.expirationTimestamp) - Date.now();
      assert.ok(left > 60_000 && left <= 120_000, `the asked-for ttl, not a fixed minute (${left} ms left)`);
      assert.equal((await taps('carol')) - before, 1);

      const verify = await run(['kube', 'verify'], env);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /Tap your security key at\s+https:\/\/\S+\n[\s\S]*verified for dev: MFA certificate valid 10m/);
      assert.equal((await taps('carol')) - before, 2, 'verify now is a tap');
    } finally {
      await control.close();
    }
  });

  test('without an agent the plugin asks for a tap itself and prints the credential', async () => {
    const erin = await stack.person('erin', ['k9s']);
    const env = { ...process.env, TAPGATE_HOME: erin.login.home, TAPGATE_AGENT_SOCKET: join(stack.dir, 'no-agent.sock') };
    const child = spawn(process.execPath, [BIN, 'kube', 'credentials', '--cluster', 'dev', '--no-browser'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const closed = once(child, 'close');
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const url = await until(() => /tap your security key to open dev:\s+(https:\S+)/.exec(err)?.[1], 'the tap link on stderr', 60_000);
    await erin.tap(url);
    await closed;
    assert.equal(child.exitCode, 0, err);
    const ec = JSON.parse(out);
    assert.equal(ec.apiVersion, 'client.authentication.k8s.io/v1');
    const left = Date.parse(ec.status.expirationTimestamp) - Date.now();
    assert.ok(left > 5 * 60_000, `the role's interval (10m), not a minute (${left} ms)`);
  });
});

describe('tapgate kube proxy --hold-timeout', () => {
  test('a held call gives up with a Status kubectl prints, naming the cluster and the tap link', async () => {
    const dave = await stack.person('dave', ['access'], { autoTap: false });
    const env = { ...process.env, TAPGATE_HOME: dave.login.home };
    const child = spawn(process.execPath, [BIN, 'kube', 'proxy', 'dev', '--hold-timeout', '2s', '--format', 'json', '--no-browser', '--kube-url', stack.tg.gate.kubeUrl!], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const line = await waitForOutput(child, (o) => o.includes('\n'), 60_000);
      const info = JSON.parse(line) as { kubeconfig: string; contexts: { context: string }[] };
      assert.deepEqual(info.contexts.map((c) => c.context), ['tapgate-dev']);
      const r = await runKubectl(['get', 'configmaps'], { kubeconfig: info.kubeconfig });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Tapgate is waiting for a security-key tap for cluster dev; tap at https:\/\/\S+\/\S+ or run `tapgate kube verify`/);
      assert.match(err, /tap your security key to open dev/);
      await stopChild(child, 'SIGINT');
      assert.equal(existsSync(info.kubeconfig), false, 'the kubeconfig is removed on exit');
    } finally {
      if (running(child)) child.kill('SIGKILL');
    }
  });
});

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
