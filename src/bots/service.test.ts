import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AuditLog } from '../audit/audit';
import { RoleRepo, roleSpecSchema } from '../auth/roles';
import { ManualClock } from '../core/clock';
import { TapgateError } from '../core/errors';
import { Locks } from '../locks/locks';
import { CertificateAuthority, generateKeyPair } from '../pki/ca';
import type { Db } from '../store/db';
import { openDb } from '../store/open';
import { tryStartTestPostgres, type TestPostgres } from '../../test/helpers/postgres';
import { BotAdmin } from './admin';
import { signHeartbeatProof, signRejoinProof, signRenewProof } from './key-proof';
import { BotService, caBundleFingerprint, type RenewedCredentials, type SignedCert } from './service';

const H = 3_600_000;
const der = (pem: string): Buffer => new X509Certificate(pem).raw;

interface Held {
  creds: RenewedCredentials;
  keyPem: string;
}

const pgServer = await tryStartTestPostgres();
const engines: { name: string; skip?: string; open: () => Promise<Db> }[] = [
  { name: 'SQLite', open: () => openDb({ type: 'sqlite', path: ':memory:' }) },
  {
    name: 'PostgreSQL',
    skip: 'skip' in pgServer ? pgServer.skip : undefined,
    open: async () => openDb({ type: 'postgres', url: await (pgServer as TestPostgres).newDatabase() }),
  },
];
after(async () => {
  if (!('skip' in pgServer)) await pgServer.stop();
});

for (const engine of engines) describe(`BotService on ${engine.name}`, { skip: engine.skip }, () => {
  let db: Db;
  let clock: ManualClock;
  let audit: AuditLog;
  let locks: Locks;
  let admin: BotAdmin;
  let svc: BotService;
  let ca: CertificateAuthority;

  before(async () => {
    clock = new ManualClock(Date.now());
    ca = await CertificateAuthority.createInMemory('bot', clock);
  });

  beforeEach(async () => {
    await db?.close();
    db = await engine.open();
    audit = new AuditLog(db, clock);
    locks = new Locks(db, audit, clock);
    await locks.reload();
    const roles = new RoleRepo(db);
    await roles.upsert({ name: 'deploy', spec: roleSpecSchema.parse({ kubernetes_groups: ['deployers'], kube_clusters: ['dev'] }) });
    admin = new BotAdmin({ db, roles, audit, clock });
    svc = new BotService({ db, clock, audit, locks, roles, ca, clusterNames: () => ['dev', 'prod'], tlsCaPem: () => 'TLSCA\n', kubeUrl: () => 'https://kube:1' });
    await admin.addBot('ci', ['deploy']);
  });

  after(async () => db?.close());

  async function join(token: string, ttlMs?: number): Promise<Held> {
    const k = await generateKeyPair();
    return { creds: await svc.join({ token, publicKey: k.publicKeyPem, ttlMs }), keyPem: k.privateKeyPem };
  }

  async function renew(h: Held, keyPem?: string): Promise<Held> {
    const k = keyPem ? { privateKeyPem: keyPem, publicKeyPem: createPublicKey(keyPem).export({ type: 'spki', format: 'pem' }) as string } : await generateKeyPair();
    return { creds: await svc.renew(der(h.creds.certPem), { publicKey: k.publicKeyPem }), keyPem: k.privateKeyPem };
  }

  const events = async (event: string) => (await audit.list({ event })).map((r) => `${r.outcome}${r.reason ? `: ${r.reason}` : ''}`);

  /** What a bot sends instead of mutual TLS: its current certificate and a proof made with its key. */
  const signedRenewal = (h: Held, newPublicKeyPem: string, at = clock.now(), keyPem = h.keyPem): SignedCert => ({
    certPem: h.creds.certPem,
    proof: signRenewProof(createPrivateKey(keyPem), h.creds.certPem, newPublicKeyPem, at),
    at,
  });
  const signedHeartbeat = (h: Held): SignedCert => ({ certPem: h.creds.certPem, proof: signHeartbeatProof(createPrivateKey(h.keyPem), h.creds.certPem, clock.now()), at: clock.now() });
  const beat = { hostname: 'h', version: '0.1.0', uptimeS: 1, oneshot: false };

  async function renewSigned(h: Held): Promise<Held> {
    const k = await generateKeyPair();
    return { creds: await svc.renew(signedRenewal(h, k.publicKeyPem), { publicKey: k.publicKeyPem }), keyPem: k.privateKeyPem };
  }

  it('joins with a certificate naming bot, instance, generation and renewable', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const { creds } = await join(text);
    const v = ca.parseAndVerify(creds.certPem);
    assert.equal(v.identity.name, 'ci');
    assert.equal(v.identity.botInstance, creds.instanceId);
    assert.equal(v.identity.generation, 1);
    assert.equal(v.identity.renewable, true);
    assert.deepEqual(v.identity.clusters, ['dev']);
    assert.deepEqual(v.identity.kubeUsers, ['bot-ci']);
    assert.ok(v.identity.kubeGroups.includes('deployers'));
    assert.equal(creds.caPem, `TLSCA\n${ca.certPem}`);
    assert.equal(creds.tlsCaPem, 'TLSCA\n');
    assert.equal(creds.kubeUrl, 'https://kube:1');
    const inst = await svc.instances.get(creds.instanceId);
    assert.equal(inst?.authentications.length, 1);
  });

  it('a single-use token: of two simultaneous joins exactly one wins, the other is audited', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const results = await Promise.allSettled([join(text), join(text)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.match(String(failed.reason.message), /already used/);
    assert.deepEqual((await events('bot.join')).sort(), ['ok', 'refused: join token exhausted']);
  });

  it('a join repeated with the same key (lost answer) gets its instance again without spending a use', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const k = await generateKeyPair();
    const first = await svc.join({ token: text, publicKey: k.publicKeyPem });
    const again = await svc.join({ token: text, publicKey: k.publicKeyPem });
    assert.equal(again.instanceId, first.instanceId);
    assert.equal(again.generation, 1);
    assert.equal((await svc.tokens.get(token.name))?.uses, 1);
    await assert.rejects(join(text), /already used/);
    // once the instance has renewed, the old join is history: a repeat is refused
    await renew({ creds: again, keyPem: k.privateKeyPem });
    clock.advance(1000);
    await assert.rejects(svc.join({ token: text, publicKey: k.publicKeyPem }), /already used/);
  });

  it('refuses expired, exhausted and forged tokens with audit records', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 2, ttlMs: H, renewable: true });
    await join(text);
    await join(text);
    await assert.rejects(join(text), /already used \(it allows 2 times\)/);
    const { text: short } = await admin.addToken({ bot: 'ci', maxUses: 1, ttlMs: 60_000, renewable: true });
    clock.advance(61_000);
    await assert.rejects(join(short), /expired at/);
    await assert.rejects(join(short.slice(0, -4) + '0000'), /not valid/);
    await assert.rejects(join('nonsense'), /malformed/);
    assert.deepEqual((await events('bot.join')).sort(), [
      'ok',
      'ok',
      'refused: join token exhausted',
      'refused: join token expired',
      'refused: malformed join token',
      'refused: wrong join token secret',
    ]);
  });

  it('renews two-phase: pending until used, then committed', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renew(g1);
    assert.equal(g2.creds.generation, 2);
    let inst = await svc.instances.get(g1.creds.instanceId);
    assert.equal(inst?.generation, 1);
    assert.equal(inst?.pendingGeneration, 2);
    await svc.observeUse(ca.parseAndVerify(g2.creds.certPem).identity);
    inst = await svc.instances.get(g1.creds.instanceId);
    assert.equal(inst?.generation, 2);
    assert.equal(inst?.pendingGeneration, null);
    // renewing with the pending certificate also commits it
    const g3 = await renew(g2);
    const g4 = await renew(g3);
    assert.equal(g4.creds.generation, 4);
    inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [3, 4]);
  });

  it('leaves the CA files out of a renewal answer only when the bot holds the current ones', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    assert.equal(g1.creds.caFingerprint, caBundleFingerprint(`TLSCA\n${ca.certPem}`, 'TLSCA\n'));
    const renewHolding = async (h: Held, caFingerprint?: string) => {
      const k = await generateKeyPair();
      return { creds: await svc.renew(der(h.creds.certPem), { publicKey: k.publicKeyPem, caFingerprint }), keyPem: k.privateKeyPem };
    };
    const g2 = await renewHolding(g1);
    assert.equal(g2.creds.caPem, `TLSCA\n${ca.certPem}`, 'an older agent, which sends none, gets them');
    const g3 = await renewHolding(g2, caBundleFingerprint('an older CA', ''));
    assert.equal(g3.creds.tlsCaPem, 'TLSCA\n', 'a CA that changed since is sent');
    const g4 = await renewHolding(g3, g1.creds.caFingerprint);
    assert.equal(g4.creds.generation, 4);
    assert.equal(g4.creds.caFingerprint, g1.creds.caFingerprint);
    assert.deepEqual([g4.creds.caPem, g4.creds.tlsCaPem, 'caPem' in g4.creds], [undefined, undefined, false]);
  });

  it('a lost renewal response is answered again, without a lock', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const next = await generateKeyPair();
    const lost = await svc.renew(der(g1.creds.certPem), { publicKey: next.publicKeyPem });
    const again = await svc.renew(der(g1.creds.certPem), { publicKey: next.publicKeyPem });
    assert.equal(again.certPem, lost.certPem);
    assert.equal(locks.match(ca.parseAndVerify(g1.creds.certPem).identity), undefined);
    // another key while pending: refused, not locked
    await assert.rejects(renew(g1), /another key is waiting/);
    assert.equal((await locks.list()).length, 0);
    const inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual(
      inst?.authentications.map((a) => a.kind),
      ['join', 'renew', 'renew-retry'],
    );
  });

  it('an old generation after commit locks that instance only', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 2, ttlMs: H, renewable: true });
    const victim = await join(text);
    const sibling = await join(text);
    const copied = victim.creds.certPem;
    const g2 = await renew(victim);
    await svc.observeUse(ca.parseAndVerify(g2.creds.certPem).identity);
    await assert.rejects(svc.renew(der(copied), { publicKey: (await generateKeyPair()).publicKeyPem }), /probably copied.*is locked/s);
    const all = await locks.list();
    assert.equal(all.length, 1);
    assert.deepEqual([all[0]!.targetKind, all[0]!.target], ['bot_instance', victim.creds.instanceId]);
    // the real bot is locked too (an administrator decides), the sibling is not
    await assert.rejects(renew(g2), /locked/);
    const s2 = await renew(sibling);
    assert.equal(s2.creds.generation, 2);
    assert.deepEqual(await events('bot.theft_detected'), ['refused: generation mismatch']);
  });

  it('renews with a signed proof instead of mutual TLS, under the same two-phase policy', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renewSigned(g1);
    assert.equal(g2.creds.generation, 2);
    let inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [1, 2]);
    // the next signed renewal, with the pending certificate, commits it; mutual TLS continues the same chain
    const g3 = await renewSigned(g2);
    const g4 = await renew(g3);
    assert.equal(g4.creds.generation, 4);
    inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [3, 4]);
    const ok = (await audit.list({ event: 'bot.renew', outcome: 'ok' })).map((a) => `${a.data.issued} ${a.data.auth}`);
    assert.deepEqual(ok.sort(), ['2 signed', '3 signed', '4 mtls']);
  });

  it('refuses signed renewals with a bad signature, another key, a stale time or an expired certificate, and audits each', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const next = await generateKeyPair();
    const other = await generateKeyPair();
    const renewWith = (s: SignedCert) => svc.renew(s, { publicKey: next.publicKeyPem });
    const good = signedRenewal(g1, next.publicKeyPem);
    const flipped = Buffer.from(good.proof, 'base64');
    flipped[flipped.length - 1]! ^= 1;
    await assert.rejects(renewWith({ ...good, proof: flipped.toString('base64') }), (e: TapgateError) => e.code === 'bad_proof' && e.status === 403);
    // signed by a key other than the certificate's (here: the new key)
    await assert.rejects(renewWith(signedRenewal(g1, next.publicKeyPem, clock.now(), next.privateKeyPem)), /proof does not verify/);
    // a proof for another new key does not carry over
    await assert.rejects(renewWith(signedRenewal(g1, other.publicKeyPem)), /proof does not verify/);
    // a heartbeat's proof is no renewal's
    await assert.rejects(renewWith({ ...signedHeartbeat(g1) }), /proof does not verify/);
    await assert.rejects(renewWith(signedRenewal(g1, next.publicKeyPem, clock.now() - 5 * 60_000 - 1)), (e: TapgateError) => e.code === 'proof_stale' && /clock/.test(e.message));
    await assert.rejects(renewWith(signedRenewal(g1, next.publicKeyPem, clock.now() + 6 * 60_000)), /more than 5 minutes from the gate's time/);
    clock.advance(H + 1_000);
    await assert.rejects(renewWith(signedRenewal(g1, next.publicKeyPem)), (e: TapgateError) => e.code === 'cert_expired');
    // (one clock tick: the log's order among these is arbitrary)
    const actor = `bot:ci/${g1.creds.instanceId}`;
    assert.deepEqual(
      (await audit.list({ event: 'bot.renew' })).map((a) => `${a.outcome} ${a.actor}: ${a.reason}`).sort(),
      [
        `refused ${actor}: renewal proof invalid`,
        `refused ${actor}: renewal proof invalid`,
        `refused ${actor}: renewal proof invalid`,
        `refused ${actor}: renewal proof invalid`,
        `refused ${actor}: renewal proof outside the 5-minute window`,
        `refused ${actor}: renewal proof outside the 5-minute window`,
        `refused anonymous: certificate ${ca.parseAndVerify(g1.creds.certPem, { allowExpired: true }).serial} (bot ci) expired`,
      ].sort(),
    );
    const inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [1, null], 'nothing was issued');
    assert.equal((await locks.list()).length, 0);
  });

  it('a replayed signed renewal gets the pending certificate again; replayed after the commit it is refused, without a lock', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const next = await generateKeyPair();
    const request = signedRenewal(g1, next.publicKeyPem);
    const first = await svc.renew(request, { publicKey: next.publicKeyPem });
    const replayed = await svc.renew(request, { publicKey: next.publicKeyPem });
    assert.equal(replayed.certPem, first.certPem, 'the same pending certificate, for the key only the bot holds');
    let inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [1, 2], 'no second generation');
    assert.deepEqual(
      inst?.authentications.map((a) => a.kind),
      ['join', 'renew', 'renew-retry'],
    );
    // the bot uses generation 2 (a signed heartbeat commits it); the request shows up once more
    await svc.heartbeat(signedHeartbeat({ creds: first, keyPem: next.privateKeyPem }), beat);
    clock.advance(60_000);
    await assert.rejects(svc.renew(request, { publicKey: next.publicKeyPem }), (e: TapgateError) => e.code === 'renewal_repeated' && e.status === 409);
    inst = await svc.instances.get(g1.creds.instanceId);
    assert.deepEqual([inst?.generation, inst?.pendingGeneration], [2, null]);
    assert.equal((await locks.list()).length, 0);
    assert.deepEqual(await events('bot.theft_detected'), []);
    assert.match((await events('bot.renew')).at(-1)!, /^refused: generation 1 repeated the renewal of generation 2 .*no lock$/);
  });

  it('theft through a signed renewal: an old generation after the commit, for a new key, locks that instance only', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 2, ttlMs: H, renewable: true });
    const victim = await join(text);
    const sibling = await join(text);
    const g2 = await renewSigned(victim);
    await svc.heartbeat(signedHeartbeat(g2), beat);
    // the thief copied generation 1 (certificate and key) and signs for a key of its own
    await assert.rejects(renewSigned(victim), /probably copied.*is locked \(its sibling instances are not\)/s);
    assert.deepEqual(
      (await locks.list()).map((l) => [l.targetKind, l.target]),
      [['bot_instance', victim.creds.instanceId]],
    );
    assert.deepEqual(await events('bot.theft_detected'), ['refused: generation mismatch']);
    await assert.rejects(renewSigned(g2), /locked/);
    assert.equal((await renewSigned(sibling)).creds.generation, 2);
  });

  it('signed heartbeats commit a pending generation; an old generation there is refused without a lock (it may be a replay)', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renewSigned(g1);
    assert.deepEqual(await svc.heartbeat(signedHeartbeat(g2), beat), { instanceId: g1.creds.instanceId, generation: 2 });
    const g3 = await renewSigned(g2);
    await svc.heartbeat(signedHeartbeat(g3), beat);
    assert.equal((await svc.instances.get(g1.creds.instanceId))?.generation, 3);
    await assert.rejects(svc.heartbeat(signedHeartbeat(g1), beat), (e: TapgateError) => e.code === 'generation_stale' && e.status === 403);
    assert.equal((await locks.list()).length, 0);
    assert.deepEqual(await events('bot.heartbeat'), ['refused: generation 1 after 3 in a signed request (replayable: no lock)']);
    // over mutual TLS nobody can replay: the same generation there is a copy
    await assert.rejects(svc.heartbeat(der(g1.creds.certPem), beat), /probably copied/);
    assert.equal((await locks.list()).length, 1);
  });

  it('the kube path accepts the generation just replaced and locks on anything older', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renew(g1);
    await svc.observeUse(ca.parseAndVerify(g2.creds.certPem).identity);
    await svc.observeUse(ca.parseAndVerify(g1.creds.certPem).identity);
    const g3 = await renew(g2);
    await svc.observeUse(ca.parseAndVerify(g3.creds.certPem).identity);
    clock.advance(10_000); // past the cache
    await assert.rejects(Promise.resolve(svc.observeUse(ca.parseAndVerify(g1.creds.certPem).identity)), /generation 1 presented \(use\) after generation 3/);
    assert.equal((await locks.list()).length, 1);
  });

  it('records capped heartbeats and commits a pending generation on heartbeat', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renew(g1);
    for (let i = 0; i < 12; i++) {
      clock.advance(1000);
      await svc.heartbeat(der(g2.creds.certPem), { hostname: `h${i}`, version: '0.1.0', uptimeS: i, oneshot: false });
    }
    const inst = await svc.instances.get(g1.creds.instanceId);
    assert.equal(inst?.generation, 2);
    assert.equal(inst?.heartbeats.length, 10);
    assert.equal(inst?.heartbeats.at(-1)?.hostname, 'h11');
    await assert.rejects(svc.heartbeat(undefined, { hostname: '', version: '', uptimeS: 0, oneshot: false }), /mutual TLS/);
  });

  it('non-renewable tokens: renew by joining again with proof, keeping the instance; removing the token stops it', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, ttlMs: 24 * H, renewable: false });
    const g1 = await join(text);
    assert.equal(g1.creds.renewable, false);
    await assert.rejects(renew(g1), /non-renewable/);
    const next = await generateKeyPair();
    const proof = signRejoinProof(createPrivateKey(g1.keyPem), g1.creds.instanceId, token.name, next.publicKeyPem);
    const g2 = await svc.join({ token: text, publicKey: next.publicKeyPem, previousCert: g1.creds.certPem, proof });
    assert.equal(g2.instanceId, g1.creds.instanceId);
    assert.equal(g2.generation, 2);
    assert.equal((await svc.instances.list('ci')).length, 1);
    // a proof for another key does not verify
    const other = await generateKeyPair();
    await assert.rejects(svc.join({ token: text, publicKey: other.publicKeyPem, previousCert: g1.creds.certPem, proof }), /does not verify/);
    // a fresh join is refused: the single use went to the instance
    await assert.rejects(join(text), /already used/);
    const removed = await admin.removeToken(token.name);
    assert.equal(removed.affected, 1);
    const proof3 = signRejoinProof(createPrivateKey(next.privateKeyPem), g1.creds.instanceId, token.name, other.publicKeyPem);
    await assert.rejects(svc.join({ token: text, publicKey: other.publicKeyPem, previousCert: g2.certPem, proof: proof3 }), /not valid/);
  });

  it('removing a renewable token leaves its instances renewing', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    assert.equal((await admin.removeToken(token.name)).affected, 0);
    assert.equal((await renew(g1)).creds.generation, 2);
  });

  it('honours bot, token and instance locks at join, renewal and heartbeat', async () => {
    const { text, token } = await admin.addToken({ bot: 'ci', maxUses: 3, ttlMs: H, renewable: true });
    const a = await join(text);
    await locks.create({ targetKind: 'token', target: token.name, createdBy: 'admin' });
    await assert.rejects(join(text), /locked \(token/);
    await assert.rejects(renew(a), /locked \(token/);
    assert.equal((await svc.tokens.get(token.name))?.uses, 1, 'a locked join takes no use');
    await locks.remove((await locks.list())[0]!.id, 'admin');
    await locks.create({ targetKind: 'bot_instance', target: a.creds.instanceId, createdBy: 'admin' });
    await assert.rejects(svc.heartbeat(der(a.creds.certPem), { hostname: 'x', version: '', uptimeS: 0, oneshot: false }), /locked \(bot_instance/);
    const b = await join(text);
    await locks.create({ targetKind: 'bot', target: 'ci', createdBy: 'admin' });
    await assert.rejects(renew(b), /locked \(bot ci/);
  });

  it('a role edited elsewhere (admin CLI, another replica) counts at the next renewal; a removed role refuses it', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renew(g1);
    const groups = (h: Held) => ca.parseAndVerify(h.creds.certPem).identity.kubeGroups.filter((g) => !g.startsWith('system:'));
    assert.deepEqual(groups(g2), ['deployers']);
    // Its own repository, as the admin CLI or another gate replica has: nothing tells this gate.
    const elsewhere = new RoleRepo(db);
    await elsewhere.upsert({ name: 'deploy', spec: roleSpecSchema.parse({ kubernetes_groups: ['releasers'], kube_clusters: ['dev', 'prod'] }) });
    const g3 = await renew(g2);
    assert.deepEqual(groups(g3), ['releasers']);
    assert.deepEqual(ca.parseAndVerify(g3.creds.certPem).identity.clusters, ['dev', 'prod']);
    const g4 = await renewSigned(g3);
    assert.deepEqual(groups(g4), ['releasers']);
    assert.ok(await elsewhere.remove('deploy'));
    await assert.rejects(renew(g4), (e: unknown) => e instanceof TapgateError && e.code === 'unknown_role');
  });

  it('a renewal after its bot was removed is refused and audited', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    const g2 = await renew(g1);
    await admin.removeBot('ci');
    await assert.rejects(renew(g2), /no longer exists/);
    await assert.rejects(renewSigned(g2), /no longer exists/);
    assert.deepEqual((await events('bot.renew')).filter((e) => e.startsWith('refused')), ['refused: unknown bot instance', 'refused: unknown bot instance']);
  });

  it('removing a bot removes its instances; the kube path refuses them', async () => {
    const { text } = await admin.addToken({ bot: 'ci', maxUses: 1, renewable: true });
    const g1 = await join(text);
    await svc.start();
    assert.deepEqual(await admin.removeBot('ci'), { instances: 1, tokens: 1 });
    // On PostgreSQL the removal reaches the cache by LISTEN/NOTIFY, a moment after removeBot returns.
    const id = ca.parseAndVerify(g1.creds.certPem).identity;
    const deadline = Date.now() + 5_000;
    let refusal: unknown;
    while (!refusal && Date.now() < deadline) {
      refusal = await Promise.resolve(svc.observeUse(id)).then(() => undefined, (e: unknown) => e);
      if (!refusal) await new Promise((r) => setTimeout(r, 10));
    }
    assert.match(String((refusal as Error | undefined)?.message), /no longer exists/);
    svc.stop();
  });
});
