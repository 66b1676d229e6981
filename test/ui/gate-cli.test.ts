/**
 * The `tapgate` admin and login commands as a person runs them: a real process, its output and
 * exit code. Login is driven through Chromium with a virtual authenticator.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { buildProgram } from '../../src/cli/main';
import { caFingerprint } from '../../src/client/api-client';
import { describeError } from '../../src/core/errors';
import { addVirtualAuthenticator, launchChromium, newGatePage } from '../helpers/browser';
import { settledStatus, startTestGate, type TestGate } from '../helpers/gate';

const BIN = fileURLToPath(new URL('../../bin/tapgate.mjs', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tapgate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The same commands in this process (a fresh program each time): much faster than a process per call. */
async function tapgateHere(args: string[]): Promise<Run> {
  const program = await buildProgram();
  let stdout = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'tapgate', ...args]);
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    return { code: 1, stdout, stderr: `tapgate: ${describeError(e)}\n` };
  } finally {
    process.stdout.write = write;
  }
}

describe('tapgate CLI', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapgate-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a config with an unknown or wrong key, naming it, without a stack trace', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen:\n  api: 127.0.0.1:0\nbogus: 1\n');
    const r = await tapgate(['server', 'start', '--config', bad, '--data-dir', join(dir, 'never')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tapgate: .*bad\.yaml: \(top level\): unknown key "bogus"\n$/);

    writeFileSync(bad, 'listen:\n  api: everywhere\n');
    const w = await tapgate(['server', 'start', '--config', bad]);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /listen\.api: write it as host:port/);
    assert.doesNotMatch(w.stderr, /\n\s+at /);
  });

  it('manages roles, users, keys, locks and reads the audit log', async () => {
    const store = ['--data-dir', join(dir, 'gate')];
    const roles = join(dir, 'roles.yaml');
    writeFileSync(
      roles,
      `kind: role
metadata: { name: dev }
spec:
  kube_clusters: [dev]
  kubernetes_groups: [developers]
  mfa_verification_interval: 10m
---
kind: role
metadata: { name: ops }
spec: { max_session_ttl: 8h }
`,
    );
    const created = await tapgateHere(['create', '-f', roles, ...store]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, 'role "dev" created\nrole "ops" created\n');

    const got = JSON.parse((await tapgateHere(['get', 'roles', '-o', 'json', ...store])).stdout) as { metadata: { name: string }; spec: { mfa_verification_interval: number } }[];
    assert.deepEqual(got.map((r) => r.metadata.name), ['access', 'dev', 'ops']);
    assert.equal(got[1]!.spec.mfa_verification_interval, 600_000);

    const badRole = join(dir, 'bad-role.yaml');
    writeFileSync(badRole, 'kind: role\nmetadata: { name: x }\nspec: { mfa_verification_intervall: 5m }\n');
    const br = await tapgateHere(['create', '-f', badRole, ...store]);
    assert.equal(br.code, 1);
    assert.match(br.stderr, /unrecognized key.*mfa_verification_intervall|mfa_verification_intervall/i);

    const added = await tapgateHere(['users', 'add', 'alice', '--roles', 'dev', ...store]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /works once, for 1h/);
    assert.match(added.stdout, /^ {2}https:\/\/localhost:3025\/enrol\/[A-Za-z0-9_-]{43}$/m);
    assert.match((await tapgateHere(['users', 'ls', ...store])).stdout, /^alice\s+dev\s+0\s+/m);
    assert.match((await tapgateHere(['mfa', 'ls', 'alice', ...store])).stdout, /alice has no security keys/);
    assert.match((await tapgateHere(['mfa', 'add', 'alice', ...store])).stdout, /\/enrol\//);

    const inUse = await tapgateHere(['rm', 'role/dev', ...store]);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /held by alice/);

    const locked = await tapgateHere(['lock', '--user', 'alice', '--ttl', '1h', '--message', 'on leave', ...store]);
    assert.equal(locked.code, 0, locked.stderr);
    const lockId = /lock ([0-9a-f-]{36})/.exec(locked.stdout)![1]!;
    assert.match((await tapgateHere(['locks', 'ls', ...store])).stdout, new RegExp(`${lockId}\\s+user=alice\\s+admin:\\S+\\s+\\S+Z\\s+on leave`));
    assert.equal((await tapgateHere(['unlock', lockId, ...store])).code, 0);
    assert.match((await tapgateHere(['get', 'locks', ...store])).stdout, /^$/);

    assert.equal((await tapgateHere(['users', 'rm', 'alice', ...store])).code, 0);
    assert.equal((await tapgateHere(['rm', 'role/dev', ...store])).stdout, 'role "dev" removed\n');

    const audit = (await tapgateHere(['audit', 'ls', '--since', '1h', '--json', ...store])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; actor: string });
    assert.deepEqual(
      audit.map((r) => r.event),
      ['role.created', 'role.created', 'role.created', 'user.created', 'enrolment.link', 'enrolment.link', 'lock.created', 'lock.removed', 'user.removed', 'role.removed'],
    );
    assert.match(audit[3]!.actor, /^admin:/);
  });
});

describe('tapgate login', () => {
  let browser: Browser;
  let tg: TestGate;
  let home: string;

  before(async () => {
    browser = await launchChromium();
    tg = await startTestGate({ clusters: ['dev'] });
    home = mkdtempSync(join(tmpdir(), 'tapgate-home-'));
  });
  after(async () => {
    await tg?.close();
    await browser?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('trusts the gate CA on first use, waits for the browser sign-in and saves a 0600 profile', async () => {
    const { page } = await newGatePage(browser);
    await addVirtualAuthenticator(page);
    await tg.enrolUser('alice', ['access'], page);

    const child = spawn(process.execPath, [BIN, 'login', '--server', tg.url, '--no-browser', '--ttl', '2h'], { env: { ...process.env, TAPGATE_HOME: home } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? 1)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^ {2}(https:\/\/\S+\/login\?session=\S+)$/m.exec(out);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`login exited early: ${out}${err}`)));
    });
    assert.ok(out.includes(caFingerprint(tg.caPem)), 'prints the fingerprint of the CA it trusts');
    const code = /shows the code {2}([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(out)![1]!;
    await page.goto(url);
    assert.equal(await page.textContent('.code'), code);
    await page.click('#signin');
    assert.equal((await settledStatus(page)).kind, 'ok');
    assert.equal(await exited, 0, err);
    assert.match(out, /Logged in as alice \(roles access\) until .* \(2h\)\./);
    for (const f of ['profile.json', 'login.crt', 'login.key']) assert.equal(statSync(join(home, f)).mode & 0o777, 0o600, f);
    assert.equal(statSync(home).mode & 0o777, 0o700);

    const who = await tapgate(['whoami'], { TAPGATE_HOME: home });
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /^alice on https:\/\/localhost:\d+\n {2}roles {12}access/);
    assert.match(who.stdout, /clusters {9}dev/);
  });
});
