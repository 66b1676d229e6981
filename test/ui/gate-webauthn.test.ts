/**
 * The gate's security-key ceremonies in real Chromium with a CDP virtual authenticator:
 * enrolment, passwordless login and the MFA tap, then every refusal with its audit record.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Agent, request } from 'undici';
import type { AuditRecord } from '../../src/audit/audit';
import { GateClient } from '../../src/client/api-client';
import { loadProfile } from '../../src/client/profile';
import { ManualClock } from '../../src/core/clock';
import { TapgateError } from '../../src/core/errors';
import { generateKeyPair } from '../../src/pki/ca';
import { addVirtualAuthenticator, launchChromium, newGatePage, type VirtualAuthenticator } from '../helpers/browser';
import { settledStatus, startTestGate, type TestGate } from '../helpers/gate';

const SCREENSHOTS = new URL('../../docs/screenshots/', import.meta.url).pathname;

const strictRole = {
  kind: 'role',
  metadata: { name: 'strict' },
  spec: { kube_clusters: ['dev'], max_session_ttl: '1h', mfa_verification_interval: '5m' },
};

/** A person at a browser with their own security key. */
async function person(browser: Browser, opts?: Parameters<typeof addVirtualAuthenticator>[1]): Promise<{ page: Page; key: VirtualAuthenticator }> {
  const { page } = await newGatePage(browser);
  return { page, key: await addVirtualAuthenticator(page, opts) };
}

/** POSTs JSON to the gate as a script would (no browser), trusting the gate's CA. */
async function postJson(tg: TestGate, path: string, body: unknown): Promise<{ status: number; json: { code?: string; message?: string } }> {
  const dispatcher = new Agent({ connect: { ca: tg.caPem } });
  try {
    const res = await request(`${tg.url}${path}`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.statusCode, json: (await res.body.json()) as { code?: string; message?: string } };
  } finally {
    await dispatcher.close();
  }
}

/** The one refusal of `event` with this reason, written since `since`. */
async function refusal(tg: TestGate, event: string, reason: RegExp, since = 0): Promise<AuditRecord> {
  const found = (await tg.audit({ event, outcome: 'refused' })).filter((r) => r.ts >= since && reason.test(r.reason ?? ''));
  assert.equal(found.length, 1, `expected one "${event}" refusal matching ${reason}, audit has: ${JSON.stringify((await tg.audit({ outcome: 'refused' })).map((r) => [r.event, r.reason]))}`);
  return found[0]!;
}

/** Opens a login page for a fresh CLI session and presses the button; returns the session id. */
async function startPageLogin(tg: TestGate, page: Page): Promise<string> {
  const anon = new GateClient({ server: tg.url, caPem: tg.caPem });
  try {
    const keys = await generateKeyPair();
    const s = await anon.createLoginSession({ publicKeyPem: keys.publicKeyPem, requester: { host: 'test' } });
    await page.goto(s.url);
    await page.click('#signin');
    return s.id;
  } finally {
    await anon.close();
  }
}

async function rejects(p: Promise<unknown>, code: string): Promise<TapgateError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TapgateError, `expected a TapgateError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a refusal with code ${code}`);
}

describe('gate in Chromium (system clock)', () => {
  let browser: Browser;
  let tg: TestGate;

  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
    tg = await startTestGate({ clusters: ['dev', 'prod'], roles: [strictRole] });
  });
  after(async () => {
    await tg?.close();
    await browser?.close();
  });

  it('enrols a key, logs in without a password and issues an MFA certificate after a tap', async () => {
    const { page } = await person(browser);
    // The pages run under a strict CSP; a violation or script error would show up here.
    const problems: string[] = [];
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(await tg.enrolLink('alice', ['access']));
    await page.screenshot({ path: `${SCREENSHOTS}enrol.png` });
    await page.click('#register');
    assert.equal((await settledStatus(page)).kind, 'ok');
    const [credential] = await tg.gate.services.users.credentials('alice');
    assert.ok(credential);
    assert.deepEqual((await tg.audit({ event: 'enrolment', outcome: 'ok' })).map((r) => r.actor), ['user:alice']);

    const { client, state, home } = await tg.login('alice', page, { beforeSignIn: (p) => p.screenshot({ path: `${SCREENSHOTS}login.png` }).then(() => undefined) });
    await page.screenshot({ path: `${SCREENSHOTS}login-done.png` });
    assert.equal(loadProfile(home)?.profile.user, 'alice');
    const who = await client.whoami();
    assert.equal(who.usage, 'login');
    assert.deepEqual(who.roles, ['access']);
    assert.deepEqual(who.kubeUsers, ['alice']);
    // max_session_ttl of `access` is 12h
    assert.ok(Math.abs(state.profile.loginExpires - (Date.now() + 12 * 3_600_000)) < 120_000);
    assert.deepEqual((await client.clusters()).map((c) => c.name), ['dev', 'prod']);

    const keys = await generateKeyPair();
    const req = await client.createMfaRequest({ clusters: ['dev', 'prod'], ttlMs: 10 * 60_000, publicKeyPem: keys.publicKeyPem, requester: { host: 'laptop', process: 'kubectl', command: 'kubectl get pods -n web' } });
    const grant = client.waitMfaRequest(req.id, { timeoutMs: 30_000 });
    await page.goto(req.tapUrl);
    assert.match(await page.textContent('main') ?? '', /dev, prod[\s\S]*10m[\s\S]*kubectl on laptop[\s\S]*kubectl get pods -n web/);
    await page.click('#approve');
    assert.equal((await settledStatus(page)).kind, 'ok');
    await page.screenshot({ path: `${SCREENSHOTS}tap-approved.png` });

    const g = await grant;
    assert.equal(g.cappedBy, 'requested');
    assert.equal(g.ttlMs, 10 * 60_000);
    const v = tg.gate.ctx.cas.user.parseAndVerify(g.certPem);
    assert.equal(v.identity.usage, 'mfa');
    assert.equal(v.identity.mfaDevice, credential.id);
    assert.deepEqual(v.identity.clusters, ['dev', 'prod']);
    assert.equal(v.identity.loginExpires, state.profile.loginExpires);
    assert.equal(v.notAfter, Math.floor((v.identity.mfaVerifiedAt! + 10 * 60_000) / 1000) * 1000);
    assert.equal((await tg.audit({ event: 'mfa.tap', outcome: 'ok' })).length, 1);
    assert.deepEqual(problems, []);
  });

  it('caps the MFA certificate at the strictest role interval, visibly in the certificate', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('carol', ['access', 'strict'], page);
    const { client, state } = await tg.login('carol', page);
    // strict: max_session_ttl 1h
    assert.ok(state.profile.loginExpires - Date.now() <= 3_600_000);

    const keys = await generateKeyPair();
    const req = await client.createMfaRequest({ clusters: ['dev'], ttlMs: 3_600_000, publicKeyPem: keys.publicKeyPem, requester: { host: 'carols-laptop', process: 'tapgate agent', command: 'kubectl logs -f deploy/api' } });
    assert.equal(req.ttlMs, 5 * 60_000);
    assert.equal(req.cappedBy, 'interval');
    await page.goto(req.tapUrl);
    assert.match((await page.textContent('#ttl')) ?? '', /5m \(you asked for 1h; your roles allow 5m per tap\)/);
    await page.screenshot({ path: `${SCREENSHOTS}tap.png` });
    const grant = client.waitMfaRequest(req.id, { timeoutMs: 30_000 });
    await page.click('#approve');
    assert.equal((await settledStatus(page)).kind, 'ok');
    const g = await grant;
    assert.equal(g.cappedBy, 'interval');
    assert.equal(g.ttlMs, 5 * 60_000);
    const cert = new X509Certificate(g.certPem);
    const verifiedAt = tg.gate.ctx.cas.user.parseAndVerify(g.certPem).identity.mfaVerifiedAt!;
    assert.equal(Date.parse(cert.validTo), Math.floor((verifiedAt + 5 * 60_000) / 1000) * 1000, 'notAfter is the tap time plus the 5m interval, not the 1h asked for');
    const tap = (await tg.audit({ event: 'mfa.tap', outcome: 'ok', actor: 'user:carol' }))[0]!;
    assert.equal(tap.data.requestedTtlMs, 3_600_000);
    assert.equal(tap.data.cappedBy, 'interval');
  });

  it('refuses clusters that are unknown or not allowed, listing the allowed ones', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('dora', ['strict'], page);
    const { client } = await tg.login('dora', page);
    const keys = await generateKeyPair();
    const e = await rejects(client.createMfaRequest({ clusters: ['prod'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } }), 'cluster_not_allowed');
    assert.match(e.message, /"prod" not allowed by your roles; clusters you may use: dev/);
    const u = await rejects(client.createMfaRequest({ clusters: ['nope'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } }), 'cluster_not_allowed');
    assert.match(u.message, /unknown cluster "nope"; clusters you may use: dev/);
    const rec = await refusal(tg, 'mfa.request', /unknown cluster "nope"/);
    assert.equal(rec.actor, 'user:dora');
  });

  it('refuses a replayed tap response, and a denied tap ends the wait', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('eve', ['access'], page);
    const { client } = await tg.login('eve', page);
    const keys = await generateKeyPair();
    const req = await client.createMfaRequest({ clusters: ['dev'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } });
    await page.goto(req.tapUrl);
    const verify = page.waitForRequest((r) => r.url().endsWith(`/v1/mfa/requests/${req.id}/verify`));
    await page.click('#approve');
    assert.equal((await settledStatus(page)).kind, 'ok');
    const replay = await postJson(tg, `/v1/mfa/requests/${req.id}/verify`, (await verify).postData()!);
    assert.equal(replay.json.code, 'challenge_replayed');
    assert.match(replay.json.message!, /already used/);
    assert.equal((await refusal(tg, 'mfa.tap', /^challenge replayed$/)).actor, 'anonymous');

    const second = await client.createMfaRequest({ clusters: ['dev'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } });
    const denied = rejects(client.waitMfaRequest(second.id, { timeoutMs: 30_000 }), 'mfa_denied');
    await page.goto(second.tapUrl);
    await page.click('#deny');
    await page.waitForSelector('#status.info');
    await denied;
    await refusal(tg, 'mfa.tap', /^denied by the user$/);
  });

  it('refuses a response from another origin (a page not served by the gate)', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('frank', ['access'], page);
    const gatePort = Number(new URL(tg.url).port);
    // Same host name, other port: a different origin under the same rpID, as a look-alike site would be.
    const proxy = net.createServer((sock) => {
      const up = net.connect(gatePort, '127.0.0.1');
      sock.pipe(up).pipe(sock);
      up.on('error', () => sock.destroy());
      sock.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const other = `https://localhost:${(proxy.address() as net.AddressInfo).port}`;
      const anon = new GateClient({ server: tg.url, caPem: tg.caPem });
      const s = await anon.createLoginSession({ publicKeyPem: (await generateKeyPair()).publicKeyPem });
      await anon.close();
      await page.goto(`${other}/login?session=${s.id}`);
      await page.click('#signin');
      const st = await settledStatus(page);
      assert.equal(st.kind, 'error');
      assert.match(st.text, /not opened from the gate's address/);
      await refusal(tg, 'login', new RegExp(`^wrong origin ${other}$`));
    } finally {
      proxy.close();
    }
  });

  it('refuses a key the gate does not know (removed by an admin)', async () => {
    const { page } = await person(browser);
    const id = await tg.enrolUser('gus', ['access'], page);
    await tg.gate.services.userAdmin.removeKey('gus', id, true);
    await startPageLogin(tg, page);
    const st = await settledStatus(page);
    assert.equal(st.kind, 'error');
    assert.match(st.text, /not registered with the gate/);
    const rec = await refusal(tg, 'login', /^unknown credential$/);
    assert.equal(rec.data.credentialId, id);
  });

  it('refuses a key whose sign counter went backwards (cloned key)', async () => {
    const { page } = await person(browser);
    const id = await tg.enrolUser('hank', ['access'], page);
    await tg.gate.ctx.db.run('UPDATE credentials SET counter = 1000 WHERE id = $1', [id]);
    await startPageLogin(tg, page);
    const st = await settledStatus(page);
    assert.equal(st.kind, 'error');
    assert.match(st.text, /cloned/);
    await page.screenshot({ path: `${SCREENSHOTS}login-refused.png` });
    const rec = await refusal(tg, 'login', /^possible cloned key: sign counter \d+ after 1000$/);
    assert.equal(rec.actor, 'user:hank');
  });

  it('refuses a login without user verification, even from a tampered page', async () => {
    const { page, key } = await person(browser);
    const id = await tg.enrolUser('ivy', ['access'], page);
    // The key no longer verifies its user (no PIN entered) and the page is altered not to ask for
    // it. Naming the credential lets the key use it without UV (Chromium's default credProtect).
    await key.cdp.send('WebAuthn.setUserVerified', { authenticatorId: key.authenticatorId, isUserVerified: false });
    await page.route('**/v1/login/sessions/*/options', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { options: { userVerification: string; allowCredentials?: unknown[] } };
      body.options.userVerification = 'discouraged';
      body.options.allowCredentials = [{ id, type: 'public-key' }];
      await route.fulfill({ response: res, json: body });
    });
    await startPageLogin(tg, page);
    const st = await settledStatus(page);
    assert.equal(st.kind, 'error');
    assert.match(st.text, /did not verify you/);
    assert.equal((await refusal(tg, 'login', /^user verification missing$/)).actor, 'user:ivy');
  });

  it('refuses a locked user: new MFA requests, pending taps and new logins', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('jack', ['access'], page);
    const { client } = await tg.login('jack', page);
    const keys = await generateKeyPair();
    const pending = await client.createMfaRequest({ clusters: ['dev'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } });
    const since = tg.gate.ctx.clock.now();
    const lock = await tg.gate.ctx.locks.create({ targetKind: 'user', target: 'jack', message: 'laptop stolen', createdBy: 'admin:test' });
    try {
      const e = await rejects(client.createMfaRequest({ clusters: ['dev'], publicKeyPem: keys.publicKeyPem, requester: { host: 'x' } }), 'locked');
      assert.match(e.message, /locked \(user jack\).*laptop stolen/);
      await refusal(tg, 'api.auth', /^locked: user jack$/, since);

      await page.goto(pending.tapUrl);
      await page.click('#approve');
      assert.match((await settledStatus(page)).text, /locked/);
      await refusal(tg, 'mfa.tap', /^locked: user jack$/, since);

      await startPageLogin(tg, page);
      assert.match((await settledStatus(page)).text, /access is locked \(user jack\)/);
      await refusal(tg, 'login', /^locked: user jack$/, since);
    } finally {
      await tg.gate.ctx.locks.remove(lock.id, 'admin:test');
    }
  });

  it('refuses a reused enrolment link', async () => {
    const { page } = await person(browser);
    const link = await tg.enrolLink('kate', ['access']);
    await page.goto(link);
    await page.click('#register');
    assert.equal((await settledStatus(page)).kind, 'ok');
    const res = await page.goto(link);
    assert.equal(res?.status(), 410);
    assert.match((await page.textContent('main')) ?? '', /already been used/);
    const token = new URL(link).pathname.split('/').pop()!;
    const again = await postJson(tg, `/v1/enrol/${token}/options`, {});
    assert.equal(again.status, 410);
    assert.equal(again.json.code, 'enrolment_used');
    const recs = (await tg.audit({ event: 'enrolment', outcome: 'refused' })).filter((r) => r.reason === 'enrolment link reused' && r.actor === 'user:kate');
    assert.equal(recs.length, 2);
  });
});

describe('gate in Chromium (manual clock)', () => {
  let browser: Browser;
  let tg: TestGate;
  const clock = new ManualClock(Date.now());

  before(async () => {
    browser = await launchChromium();
    tg = await startTestGate({ clusters: ['dev'], clock });
  });
  after(async () => {
    await tg?.close();
    await browser?.close();
  });

  it('refuses a response to a challenge older than 60 seconds', async () => {
    const { page } = await person(browser);
    await tg.enrolUser('lena', ['access'], page);
    await page.route('**/v1/login/sessions/*/verify', async (route) => {
      clock.advance(61_000);
      await route.continue();
    });
    await startPageLogin(tg, page);
    const st = await settledStatus(page);
    assert.equal(st.kind, 'error');
    assert.match(st.text, /timed out \(60 seconds\)/);
    await refusal(tg, 'login', /^challenge expired$/);
  });

  it('refuses an expired enrolment link', async () => {
    const { page } = await person(browser);
    const link = await tg.enrolLink('mia', ['access']);
    clock.advance(tg.gate.ctx.config.enrolment_ttl_ms + 1000);
    const res = await page.goto(link);
    assert.equal(res?.status(), 410);
    assert.match((await page.textContent('main')) ?? '', /expired/);
    assert.equal((await refusal(tg, 'enrolment', /^enrolment link expired$/)).actor, 'user:mia');
  });
});
