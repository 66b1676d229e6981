/**
 * Machine identity end to end: bot agents (in process, and the real CLI for the CI flow) join a
 * real gate, write kubeconfigs that real kubectl 1.35 uses through the gate's kube listener to
 * the fake API server, renew two-phase, survive lost responses, and get locked — one instance at
 * a time — when a copied certificate shows up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createPrivateKey } from 'node:crypto';
import { Agent, request } from 'undici';
import { BotAdmin } from '../../src/bots/admin';
import { BotAgent, type BotAgentOptions } from '../../src/bots/agent/agent';
import { HttpBotApi, type BotApi } from '../../src/bots/agent/bot-api';
import { signRenewProof } from '../../src/bots/key-proof';
import { botService } from '../../src/bots/routes';
import { TapgateError } from '../../src/core/errors';
import { generateKeyPair } from '../../src/pki/ca';
import { startFakeApiServer, type FakeApiServer } from '../fake-apiserver/index';
import { startTestGate, type TestGate } from '../helpers/gate';
import { runKubectl, spawnKubectl } from '../helpers/kubectl';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MIN = 60_000;

let tmp: string;
let fake: FakeApiServer;
let tg: TestGate;
let admin: BotAdmin;

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function tokenFile(text: string): string {
  const f = join(tmp, `token-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
}

interface Running {
  agent: BotAgent;
  done: Promise<void>;
  logs: string[];
  dest: string;
}

function startAgent(name: string, o: Partial<BotAgentOptions> & { tokenFile: string }): Running {
  const dest = join(tmp, name);
  const logs: string[] = [];
  const agent = new BotAgent({
    server: tg.url,
    destination: dest,
    clusters: ['dev'],
    oneshot: false,
    ttlMs: 2 * MIN,
    renewalIntervalMs: 1_000,
    heartbeatIntervalMs: 60_000,
    caPem: tg.caPem,
    random: () => 0,
    log: (m) => logs.push(m),
    ...o,
  });
  const done = agent.run();
  done.catch(() => undefined);
  return { agent, done, logs, dest };
}

async function stopAll(...rs: Running[]): Promise<void> {
  for (const r of rs) r.agent.stop();
  await Promise.allSettled(rs.map((r) => r.done));
}

const instance = (id: string) => admin.instances.get(id);
const kubectlAs = (r: Running | string, args = ['get', 'namespaces', '-o', 'name']) =>
  runKubectl(args, { kubeconfig: typeof r === 'string' ? r : join(r.dest, 'kubeconfig.yaml'), timeoutMs: 20_000 });

/** Runs the real CLI (bin/tapgate.mjs) to completion. */
function cli(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repo, 'bin', 'tapgate.mjs'), ...args], { cwd: tmp, env: { ...process.env, TAPGATE_TEST: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tapgate-bots-e2e-'));
  fake = await startFakeApiServer();
  const kubeconfig = await fake.writeKubeconfig(join(tmp, 'upstream.yaml'), { context: 'dev' });
  tg = await startTestGate({
    clusters: [{ name: 'dev', kubeconfig }],
  });
  const { ctx } = tg.gate;
  admin = new BotAdmin({ db: ctx.db, roles: ctx.roles, audit: ctx.audit, clock: ctx.clock });
  // `access` exists from the start; roles added later reach the kube listener within its reload interval (5s)
  await admin.addBot('ci', ['access']);
  await admin.addBot('other', ['access']);
  // Until the kube listener calls it itself: commit generations on first kube use, as it will.
  void botService(ctx);
});

after(async () => {
  await tg?.close();
  await fake?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('bots end to end', () => {
  test('five agents join one bot with one multi-use token and run kubectl through the gate concurrently', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 5, ttlMs: 10 * MIN, renewable: true });
    const file = tokenFile(text);
    const agents = Array.from({ length: 5 }, (_, i) => startAgent(`five-${i}`, { tokenFile: file }));
    try {
      await waitFor('five joins', () => agents.every((a) => a.agent.identity));
      const ids = new Set(agents.map((a) => a.agent.identity!.instanceId));
      assert.equal(ids.size, 5, 'one instance per agent');
      assert.equal((await admin.tokens.get(token.name))?.uses, 5);
      // kubectl through all five at once, twice, with renewals happening in between
      for (let round = 0; round < 2; round++) {
        const results = await Promise.all(agents.map((a) => kubectlAs(a)));
        for (const r of results) {
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /namespace\/default/);
        }
        if (round === 0) await waitFor('renewals of all five', () => agents.every((a) => a.agent.identity!.generation >= 3));
      }
      const imp = fake.lastImpersonation((r) => r.path.startsWith('/api/v1/namespaces'));
      assert.equal(imp?.user, 'bot-ci');
      assert.ok(imp?.groups.includes('system:authenticated'));
      // a sixth instance is refused, and the refusal is audited
      const k = await generateKeyPair();
      await assert.rejects(new HttpBotApi(tg.url, () => tg.caPem).join({ token: text, publicKey: k.publicKeyPem }), /already used \(it allows 5 times\)/);
      assert.ok((await tg.audit({ event: 'bot.join', outcome: 'refused' })).some((a) => a.reason === 'join token exhausted' && a.data.token === token.name));
      const st = statSync(join(agents[0]!.dest, 'tls.key'));
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal((await tg.audit({ event: 'bot.theft_detected' })).length, 0, 'no theft among healthy agents');
      // the agents prove their certificates in the body, over kept-alive connections: no mutual TLS at all
      const renewals = await tg.audit({ event: 'bot.renew', outcome: 'ok' });
      assert.ok(renewals.length >= 10 && renewals.every((a) => a.data.auth === 'signed'), JSON.stringify(renewals.map((a) => a.data.auth)));
    } finally {
      await stopAll(...agents);
    }
  });

  test('renewals leave out the CA files the agent holds; the agent keeps writing them', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, ttlMs: 10 * MIN, renewable: true });
    const http = new HttpBotApi(tg.url, () => tg.caPem);
    const answers: { carriedCa: boolean }[] = [];
    const api: BotApi = {
      join: (b) => http.join(b),
      heartbeat: (a, b) => http.heartbeat(a, b),
      renew: async (a, b, held) => {
        const creds = await http.renew(a, b, held);
        answers.push({ carriedCa: creds.caPem !== undefined });
        return creds;
      },
    };
    const r = startAgent('ca-held', { tokenFile: tokenFile(text), api });
    try {
      await waitFor('two renewals', () => (r.agent.identity?.generation ?? 0) >= 3);
      const caPem = `${tg.caPem}${tg.gate.ctx.cas.bot.certPem}`;
      assert.deepEqual(answers.slice(0, 2), [{ carriedCa: false }, { carriedCa: false }]);
      assert.equal(r.agent.identity!.caPem, caPem);
      assert.equal(readFileSync(join(r.dest, 'ca.crt'), 'utf8'), caPem);
      const k = await kubectlAs(r);
      assert.equal(k.code, 0, k.stderr);
    } finally {
      await stopAll(r);
      await http.close();
    }
  });

  test('a signed renewal over a kept-alive connection: answered, repeated safely, refused when stale or mixed with mutual TLS', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const k1 = await generateKeyPair();
    const g1 = await new HttpBotApi(tg.url, () => tg.caPem).join({ token: text, publicKey: k1.publicKeyPem });
    const conn = new Agent({ connect: { ca: tg.caPem }, connections: 1 });
    const mtls = new Agent({ connect: { ca: tg.caPem, cert: g1.certPem, key: k1.privateKeyPem } });
    const renew = async (body: object, dispatcher = conn) => {
      const r = await request(`${tg.url}/v1/bots/renew`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> };
    };
    try {
      const k2 = await generateKeyPair();
      const at = Date.now();
      const body = { publicKey: k2.publicKeyPem, cert: g1.certPem, proof: signRenewProof(createPrivateKey(k1.privateKeyPem), g1.certPem, k2.publicKeyPem, at), at };
      const first = await renew(body);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.generation, 2);
      // the same request again (a replay, or a retry after a lost answer): the same certificate, nothing new
      const again = await renew(body);
      assert.equal(again.body.certPem, first.body.certPem);
      assert.deepEqual(
        (await instance(g1.instanceId))?.authentications.map((a) => a.kind),
        ['join', 'renew', 'renew-retry'],
      );
      const stale = Date.now() - 10 * MIN;
      const old = await renew({ ...body, proof: signRenewProof(createPrivateKey(k1.privateKeyPem), g1.certPem, k2.publicKeyPem, stale), at: stale });
      assert.equal(old.status, 401);
      assert.equal(old.body.code, 'proof_stale');
      assert.ok((await tg.audit({ event: 'bot.renew', outcome: 'refused' })).some((a) => a.actor === `bot:ci/${g1.instanceId}` && a.reason === 'renewal proof outside the 5-minute window'));
      const mixed = await renew(body, mtls);
      assert.equal(mixed.status, 400);
      assert.match(String(mixed.body.message), /not both/);
      const partial = await renew({ publicKey: k2.publicKeyPem, cert: g1.certPem });
      assert.equal(partial.status, 400);
      assert.match(String(partial.body.message), /cert, proof and at go together/);
      assert.equal((await tg.gate.ctx.locks.list()).length, 0);
    } finally {
      await conn.close();
      await mtls.close();
    }
  });

  test('a copied certificate (and key) used after its instance renewed locks that instance and no other', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 2, ttlMs: 10 * MIN, renewable: true });
    const file = tokenFile(text);
    const victim = startAgent('victim', { tokenFile: file });
    const sibling = startAgent('sibling', { tokenFile: file });
    try {
      await waitFor('both joined', () => victim.agent.identity && sibling.agent.identity);
      const vid = victim.agent.identity!.instanceId;
      // the thief copies the files while generation 1 is current
      const stolen = { certPem: victim.agent.identity!.certPem, keyPem: victim.agent.identity!.keyPem };
      assert.equal(victim.agent.identity!.generation, 1);
      await waitFor('a committed renewal', async () => ((await instance(vid))?.generation ?? 0) >= 2);
      // the thief runs the same client: it signs a renewal for a key of its own with the copied key
      const thief = new HttpBotApi(tg.url, () => tg.caPem);
      const k = await generateKeyPair();
      await assert.rejects(thief.renew(stolen, { publicKey: k.publicKeyPem }), /probably copied.*is locked \(its sibling instances are not\)/s);

      const locks = await tg.gate.ctx.locks.list();
      assert.deepEqual(
        locks.map((l) => [l.targetKind, l.target]),
        [['bot_instance', vid]],
      );
      const theft = await tg.audit({ event: 'bot.theft_detected' });
      assert.equal(theft.length, 1);
      assert.equal(theft[0]!.data.instance, vid);
      // the victim's agent stops with the gate's message; kubectl with its files is refused
      await assert.rejects(victim.done, /locked/);
      const refused = await kubectlAs(victim);
      assert.notEqual(refused.code, 0);
      const kubeRefusals = await waitFor('the kube refusal in the audit log', async () => {
        const list = (await tg.audit({ event: 'kube.request', outcome: 'refused' })).filter((a) => a.actor === `bot:ci/${vid}`);
        return list.length ? list : undefined;
      });
      assert.match(kubeRefusals[0]!.reason ?? '', /locked: bot_instance/);
      // the sibling keeps renewing and working
      const before = sibling.agent.identity!.generation;
      await waitFor('sibling renews', () => sibling.agent.identity!.generation > before + 1);
      const ok = await kubectlAs(sibling);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await stopAll(victim, sibling);
      for (const l of await tg.gate.ctx.locks.list()) await tg.gate.ctx.locks.remove(l.id, 'test');
    }
  });

  test('a join and a renewal whose responses are lost recover without a lock or a second token use', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const real = new HttpBotApi(tg.url, () => tg.caPem);
    let dropped = 0;
    let droppedJoins = 0;
    const lost = () => new TapgateError('gate_unreachable', 'socket hang up (response dropped by the test)', { status: 503 });
    // The gate answers, the answer never arrives: the gate cannot tell this from a network cut.
    const lossy: BotApi = {
      async join(b) {
        const answer = await real.join(b);
        if (droppedJoins++ === 0) throw lost();
        return answer;
      },
      heartbeat: (a, b) => real.heartbeat(a, b),
      async renew(a, b) {
        const answer = await real.renew(a, b);
        if (dropped++ === 0) throw lost();
        return answer;
      },
    };
    const r = startAgent('lossy', { tokenFile: tokenFile(text), api: lossy });
    try {
      await waitFor('join', () => r.agent.identity);
      const id = r.agent.identity!.instanceId;
      assert.equal(droppedJoins, 2);
      assert.equal((await admin.tokens.get(token.name))?.uses, 1, 'the retried join spent no second use');
      await waitFor('recovery past the lost response', () => r.agent.identity!.generation >= 3);
      assert.ok(dropped >= 2);
      assert.ok(r.logs.some((l) => /renewal failed \(socket hang up/.test(l)), r.logs.join('\n'));
      const inst = await instance(id);
      assert.ok(inst!.authentications.some((a) => a.kind === 'renew-retry'), 'the retry got the pending certificate again');
      assert.equal((await tg.gate.ctx.locks.list()).length, 0);
      assert.equal((await tg.audit({ event: 'bot.theft_detected' })).length, 1, 'only the earlier test\'s theft');
      const k = await kubectlAs(r);
      assert.equal(k.code, 0, k.stderr);
    } finally {
      await stopAll(r);
    }
  });

  test('two simultaneous joins on a single-use token: exactly one succeeds', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const api = new HttpBotApi(tg.url, () => tg.caPem);
    const [k1, k2] = await Promise.all([generateKeyPair(), generateKeyPair()]);
    const results = await Promise.allSettled([api.join({ token: text, publicKey: k1.publicKeyPem }), api.join({ token: text, publicKey: k2.publicKeyPem })]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.equal((await admin.instances.list('ci')).filter((i) => i.token === token.name).length, 1);
  });

  test('expired and exhausted tokens are refused, with audit records', async () => {
    const api = new HttpBotApi(tg.url, () => tg.caPem);
    const expiring = await admin.addToken({ bot: 'ci', maxUses: 1, ttlMs: 1_000, renewable: true });
    const used = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    await api.join({ token: used.text, publicKey: (await generateKeyPair()).publicKeyPem });
    await sleep(1_100);
    const k = await generateKeyPair();
    await assert.rejects(api.join({ token: expiring.text, publicKey: k.publicKeyPem }), (e: TapgateError) => e.status === 401 && /expired at .*tapgate tokens add --bot ci/.test(e.message));
    await assert.rejects(api.join({ token: used.text, publicKey: k.publicKeyPem }), (e: TapgateError) => e.status === 401 && e.code === 'token_exhausted');
    const refused = await tg.audit({ event: 'bot.join', outcome: 'refused' });
    assert.ok(refused.some((a) => a.data.token === expiring.token.name && a.reason === 'join token expired'));
    assert.ok(refused.some((a) => a.data.token === used.token.name && a.reason === 'join token exhausted'));
  });

  test('the CI flow with the real CLI: admin commands, oneshot, a kubeconfig kubectl can use, and the destination lock', async () => {
    const cfg = join(tmp, 'tapgate.yaml');
    writeFileSync(cfg, `data_dir: ${tg.dataDir}\nlog_level: silent\n`);
    const caFile = join(tmp, 'gate-ca.pem');
    writeFileSync(caFile, tg.caPem);

    const add = await cli(['bots', 'add', 'deployer', '--roles', 'access', '-c', cfg]);
    assert.equal(add.code, 0, add.stderr);
    const tok = await cli(['tokens', 'add', '--bot', 'deployer', '--ttl', '10m', '-c', cfg]);
    assert.equal(tok.code, 0, tok.stderr);
    assert.match(tok.stdout, /^tgt_[a-z0-9-]+_[0-9a-f]{64}\n$/);
    assert.match(tok.stderr, /shown only now/);

    const dest = join(tmp, 'ci-out');
    const file = tokenFile(tok.stdout.trim());
    const run = await cli(['bot', 'start', '--oneshot', '--server', tg.url, '--token-file', file, '--destination', dest, '--cluster', 'dev', '--ca-file', caFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /joined: bot deployer, instance/);
    for (const f of ['tls.crt', 'tls.key', 'ca.crt', 'kubeconfig.yaml']) assert.equal(statSync(join(dest, f)).mode & 0o777, 0o600, f);
    const k = await kubectlAs(join(dest, 'kubeconfig.yaml'));
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /namespace\/default/);

    const id = (await admin.instances.list('deployer'))[0]?.id;
    assert.ok(id);
    const show = await cli(['bots', 'instances', 'show', id.slice(0, 8), '-c', cfg]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /Generation:\s+1/);
    assert.match(show.stdout, /Heartbeats \(last 1\):\n.*oneshot/);

    // another agent holds the destination: a clear refusal, non-zero
    writeFileSync(join(dest, '.tapgate-bot.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: Date.now() }));
    const locked = await cli(['bot', 'start', '--oneshot', '--server', tg.url, '--token-file', file, '--destination', dest, '--ca-file', caFile]);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /in use by another tapgate bot \(process \d+/);
    rmSync(join(dest, '.tapgate-bot.lock'));

    // a second oneshot run renews the saved identity instead of spending the (used) token again
    const again = await cli(['bot', 'start', '--oneshot', '--server', tg.url, '--destination', dest, '--ca-file', caFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`renewed: bot deployer, instance ${id}, generation 2`));

  });

  test('a non-renewable token: the agent renews by joining again and keeps its instance; removing the token stops it', async () => {
    const { text, token } = await admin.addToken({ bot: 'other', maxUses: 1, ttlMs: 10 * MIN, renewable: false });
    const r = startAgent('nonrenewable', { tokenFile: tokenFile(text) });
    try {
      await waitFor('join', () => r.agent.identity);
      const id = r.agent.identity!.instanceId;
      assert.equal(r.agent.identity!.renewable, false);
      await waitFor('two re-joins', () => r.agent.identity!.generation >= 3);
      assert.equal(r.agent.identity!.instanceId, id, 'same instance');
      assert.equal((await admin.instances.list('other')).length, 1);
      const k = await kubectlAs(r);
      assert.equal(k.code, 0, k.stderr);
      await admin.removeToken(token.name);
      await assert.rejects(r.done, /join token is not valid/);
    } finally {
      await stopAll(r);
    }
  });

  test('a lock on a bot instance ends its live kubectl watch within a second or two', async () => {
    const { text } = await admin.addToken({ bot: 'other', maxUses: 1, renewable: true });
    const r = startAgent('watcher', { tokenFile: tokenFile(text), renewalIntervalMs: 60_000 });
    try {
      await waitFor('join', () => r.agent.identity);
      const watch = await spawnKubectl(['get', 'configmaps', '-w'], { kubeconfig: join(r.dest, 'kubeconfig.yaml') });
      const exited = new Promise<number>((res) => watch.on('close', (c) => res(c ?? 1)));
      await sleep(1_000);
      const t0 = Date.now();
      await tg.gate.ctx.locks.create({ targetKind: 'bot_instance', target: r.agent.identity!.instanceId, createdBy: 'test' });
      const guard = setTimeout(() => watch.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(guard);
      assert.ok(Date.now() - t0 < 3_000, `watch ended after ${Date.now() - t0} ms`);
    } finally {
      await stopAll(r);
      for (const l of await tg.gate.ctx.locks.list()) await tg.gate.ctx.locks.remove(l.id, 'test');
    }
  });
});
