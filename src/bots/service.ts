import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import type { AuditLog } from '../audit/audit';
import { audited, type AuditTrail } from '../auth/audited';
import type { Role, RoleRepo } from '../auth/roles';
import type { Clock } from '../core/clock';
import { TapgateError } from '../core/errors';
import type { Locks } from '../locks/locks';
import { lockedError } from '../locks/locks';
import type { CertificateAuthority } from '../pki/ca';
import { keyFingerprint } from '../pki/ca';
import { certificateDer } from '../pki/certificate';
import type { Identity, VerifiedCert } from '../pki/identity';
import { LruCache } from '../pki/lru-cache';
import { readPublicKey, type CertifiableKey } from '../pki/public-key';
import type { Db } from '../store/db';
import { botCertTtl, botIdentity } from './bot-identity';
import { BotRepo, type Bot } from './bots';
import { decideRenewal, decideUse, type GenerationState } from './generation';
import { InstanceRepo, issuedKeys, type Authentication, type BotInstance, type PendingCert } from './instances';
import { certificateKey, PROOF_WINDOW_MS, verifyHeartbeatProof, verifyRejoinProof, verifyRenewProof, withinProofWindow } from './key-proof';
import { statusOf, TokenRepo, type JoinToken } from './tokens';
import { parseToken, secretMatches } from './token-secret';

/** Channel on which bot and instance removals reach every replica's generation cache. */
export const BOTS_CHANNEL = 'tapgate_bots';
/** How long the kube path trusts its cached generation state before asking the store again. */
const STATE_CACHE_MS = 5_000;
/** A join repeated with the same key within this long is a retry of a lost answer. */
const JOIN_RETRY_MS = 10 * 60_000;
/** Conditional writes lost to a concurrent renewal are decided again this many times. */
const WRITE_ATTEMPTS = 5;
/** Public keys of certificates that signed a proof, by certificate fingerprint (importing one costs ~100 µs). */
const PROOF_KEY_CACHE = 10_000;

export interface BotServiceDeps {
  db: Db;
  clock: Clock;
  audit: AuditLog;
  locks: Locks;
  roles: RoleRepo;
  /** the bot certificate authority */
  ca: CertificateAuthority;
  /** names of the clusters the gate fronts (read at each issue: config may change) */
  clusterNames: () => string[];
  /** the CA of the gate's TLS certificate; '' when it comes from a public CA (system trust) */
  tlsCaPem: () => string;
  /** the gate's kube listener as bots reach it, e.g. https://gate.example.com:3026 */
  kubeUrl: () => string;
}

/** What join and renewal hand the bot. */
export interface BotCredentials {
  certPem: string;
  /** the gate's TLS CA then the bot CA: what ca.crt holds */
  caPem: string;
  /** the gate's TLS CA alone ('' = system trust store): what the bot verifies the gate with */
  tlsCaPem: string;
  bot: string;
  instanceId: string;
  generation: number;
  notAfter: number;
  renewable: boolean;
  kubeUrl: string;
  clusters: string[];
  /** names caPem and tlsCaPem: a renewal that sends it back gets them only when they changed */
  caFingerprint: string;
}

/** A renewal's answer: caPem and tlsCaPem are left out when the bot said it holds them (caFingerprint). */
export type RenewedCredentials = Omit<BotCredentials, 'caPem' | 'tlsCaPem'> & Partial<Pick<BotCredentials, 'caPem' | 'tlsCaPem'>>;

export interface RenewInput {
  publicKey: string;
  ttlMs?: number;
  /** the caFingerprint of the CA files the bot already holds */
  caFingerprint?: string;
}

/** Pure: what names the CA files a bot is handed; both go in, so a change to either shows. */
export function caBundleFingerprint(caPem: string, tlsCaPem: string): string {
  return createHash('sha256').update(`${caPem}\0${tlsCaPem}`).digest('hex');
}

export interface JoinInput {
  token: string;
  publicKey: string;
  ttlMs?: number;
  /** non-renewable tokens: the instance's previous certificate and a proof made with its key */
  previousCert?: string;
  proof?: string;
}

/** A proof in the request body that the caller holds `certPem`'s key (key-proof.ts); made at `at`, epoch ms. */
export interface SignedCert {
  certPem: string;
  /** base64 signature */
  proof: string;
  at: number;
}

/**
 * How a bot shows it holds its current certificate: over mutual TLS (the peer certificate's DER,
 * undefined when the connection has none) or by a signature in the body, which works over a
 * kept-alive connection and through TLS-terminating proxies.
 */
export type Presented = Buffer | undefined | SignedCert;

const isSigned = (p: Presented): p is SignedCert => p !== undefined && !Buffer.isBuffer(p);

export interface HeartbeatInput {
  hostname: string;
  version: string;
  uptimeS: number;
  oneshot: boolean;
}

export interface CallMeta {
  remote?: string;
}

type CachedState = GenerationState & { renewable: boolean; at: number };

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** A time a caller sent, readable even when it is beyond what a Date holds. */
const sentTime = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? iso(ms) : String(ms));
const actorOf = (bot: string, instance: string): string => `bot:${bot}/${instance}`;

const TOKEN_INVALID = (reason: string) =>
  new TapgateError('token_invalid', 'the join token is not valid (unknown, removed or mistyped); ask an administrator for a new one ("tapgate tokens add --bot <bot>")', {
    status: 401,
    auditReason: reason,
  });

/**
 * Machine identity at run time: joining with a token, two-phase renewal with per-instance
 * generation counters, heartbeats, and the kube path's check of every bot certificate's
 * generation (`observeUse`). Policy lives in generation.ts and token-policy.ts; this class only
 * reads state, asks the policy, and writes the outcome with conditional updates.
 */
export class BotService {
  readonly bots: BotRepo;
  readonly tokens: TokenRepo;
  readonly instances: InstanceRepo;
  private readonly cache = new Map<string, CachedState>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly proofKeys = new LruCache<string, KeyObject>(PROOF_KEY_CACHE);
  private unlisten?: () => void;
  private lastCaFingerprint?: { caPem: string; tlsCaPem: string; fp: string };

  constructor(private readonly d: BotServiceDeps) {
    this.bots = new BotRepo(d.db);
    this.tokens = new TokenRepo(d.db);
    this.instances = new InstanceRepo(d.db);
  }

  /** Listens for removals on other replicas so their cached generations are dropped at once. */
  async start(): Promise<void> {
    this.unlisten ??= await this.d.db.listen(BOTS_CHANNEL, (payload) => {
      if (payload) this.cache.delete(payload);
      else this.cache.clear();
    });
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
  }

  // ---- join ----

  async join(input: JoinInput, meta: CallMeta = {}): Promise<BotCredentials> {
    const trail: AuditTrail = { actor: 'anonymous', data: { remote: meta.remote } };
    return audited(this.d.audit, 'bot.join', trail, async () => {
      const parsed = parseToken(input.token);
      trail.data.token = parsed.name;
      const token = await this.tokens.get(parsed.name);
      if (!token) throw TOKEN_INVALID('unknown join token');
      if (!secretMatches(parsed.secret, token.secretHash)) throw TOKEN_INVALID('wrong join token secret');
      trail.data.bot = token.botName;
      const now = this.d.clock.now();
      if (statusOf(token, now) === 'expired') {
        throw new TapgateError('token_expired', `the join token "${token.name}" expired at ${iso(token.expiresAt!)}; ask an administrator for a new one ("tapgate tokens add --bot ${token.botName}")`, {
          status: 401,
          auditReason: 'join token expired',
        });
      }
      const bot = await this.bots.get(token.botName);
      if (!bot) throw TOKEN_INVALID(`bot ${token.botName} of the join token no longer exists`);
      if (input.previousCert !== undefined || input.proof !== undefined) return this.rejoin(input, token, bot, trail, meta);
      return this.joinNew(input, token, bot, trail, meta);
    });
  }

  private async joinNew(input: JoinInput, token: JoinToken, bot: Bot, trail: AuditTrail, meta: CallMeta): Promise<BotCredentials> {
    const now = this.d.clock.now();
    const publicKey = readPublicKey(input.publicKey);
    const keyFp = keyFingerprint(publicKey);
    const roles = await this.d.roles.resolve(bot.roles);
    // The same key again: the answer to the first join was lost. Answer again rather than spend a use.
    const earlier = await this.instances.joinedWith(token.name, keyFp);
    if (earlier && now - earlier.joinedAt < JOIN_RETRY_MS) return this.joinAgain(earlier, input, roles, trail, meta);
    if (statusOf(token, now) === 'exhausted') throw exhausted(token);
    const instanceId = randomUUID();
    trail.actor = actorOf(bot.name, instanceId);
    const identity = botIdentity({ bot: bot.name, roles, clusterNames: this.d.clusterNames(), instanceId, generation: 1, renewable: token.renewable, token: token.name });
    // A locked bot or token must not use up a join.
    this.assertUnlocked(identity);
    if (!(await this.tokens.consume(token.name, token.secretHash, now))) throw exhausted(token);
    const issued = await this.d.ca.issue({ publicKey, identity, ttlMs: botCertTtl(roles, input.ttlMs) });
    const auth: Authentication = { at: now, kind: 'join', generation: 1, serial: issued.serial, ...(meta.remote ? { remote: meta.remote } : {}) };
    await this.instances.create({
      id: instanceId,
      bot: bot.name,
      token: token.name,
      renewable: token.renewable,
      joinedAt: now,
      generation: 1,
      notAfter: issued.notAfter,
      pendingGeneration: null,
      pendingCert: null,
      pendingKeyFp: null,
      pendingNotAfter: null,
      joinKeyFp: keyFp,
      authentications: [auth],
      heartbeats: [],
      lastSeen: now,
    });
    this.remember(instanceId, { generation: 1, pendingGeneration: null, pendingKeyFp: null, renewable: token.renewable });
    await this.d.audit.record({
      event: 'bot.join',
      outcome: 'ok',
      actor: trail.actor,
      data: { ...trail.data, instance: instanceId, generation: 1, renewable: token.renewable, serial: issued.serial, keyFp },
    });
    return this.credentials(identity, issued.certPem, issued.notAfter);
  }

  /** A first certificate issued again for the key the instance joined with; it certifies nothing the caller lacked. */
  private async joinAgain(inst: BotInstance, input: JoinInput, roles: Role[], trail: AuditTrail, meta: CallMeta): Promise<BotCredentials> {
    trail.actor = actorOf(inst.bot, inst.id);
    const identity = botIdentity({ bot: inst.bot, roles, clusterNames: this.d.clusterNames(), instanceId: inst.id, generation: 1, renewable: inst.renewable, token: inst.token });
    this.assertUnlocked(identity);
    const issued = await this.d.ca.issue({ publicKeyPem: input.publicKey, identity, ttlMs: botCertTtl(roles, input.ttlMs) });
    const now = this.d.clock.now();
    await this.instances.recordAuthentication(inst.id, { at: now, kind: 'join-retry', generation: 1, serial: issued.serial, ...(meta.remote ? { remote: meta.remote } : {}) });
    await this.d.audit.record({ event: 'bot.join', outcome: 'ok', actor: trail.actor, data: { ...trail.data, instance: inst.id, generation: 1, retry: true, serial: issued.serial } });
    return this.credentials(identity, issued.certPem, issued.notAfter);
  }

  /** Non-renewable tokens: the bot renews by joining again and keeps its instance by proving it holds the previous key. */
  private async rejoin(input: JoinInput, token: JoinToken, bot: Bot, trail: AuditTrail, meta: CallMeta): Promise<BotCredentials> {
    if (token.renewable) {
      throw new TapgateError('rejoin_renewable', `token "${token.name}" is renewable: the bot renews with its certificate (POST /v1/bots/renew), not by joining again; to start a new instance, join without previousCert`, {
        auditReason: 'rejoin with a renewable token',
      });
    }
    if (!input.previousCert || !input.proof) {
      throw new TapgateError('bad_request', 'joining again needs both previousCert and proof; update the tapgate client', { auditReason: 'rejoin without proof' });
    }
    const prev = this.d.ca.parseAndVerify(input.previousCert, { allowExpired: true });
    const instanceId = prev.identity.botInstance;
    if (prev.identity.usage !== 'bot' || !instanceId) throw new TapgateError('bad_request', 'previousCert is not a bot certificate', { status: 403, auditReason: 'rejoin with a non-bot certificate' });
    trail.actor = actorOf(bot.name, instanceId);
    const refuseInstance = (why: string, auditReason: string) =>
      new TapgateError('instance_unknown', `${why}; join as a new instance (drop the saved identity, e.g. delete the destination's .tapgate-bot directory)`, { status: 403, auditReason });
    if (!verifyRejoinProof(input.previousCert, input.proof, instanceId, token.name, input.publicKey)) {
      throw new TapgateError('bad_proof', 'the proof of the previous certificate does not verify; the bot must sign with the key of its previous certificate', {
        status: 403,
        auditReason: 'rejoin proof invalid',
      });
    }
    this.assertUnlocked(prev.identity);
    const roles = await this.d.roles.resolve(bot.roles);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const inst = await this.instances.get(instanceId);
      if (!inst) throw refuseInstance(`bot instance ${instanceId} no longer exists`, 'rejoin of an unknown instance');
      if (inst.token !== token.name || inst.bot !== bot.name) throw refuseInstance(`bot instance ${instanceId} joined with another token`, 'rejoin with another token');
      const now = this.d.clock.now();
      const generation = inst.generation + 1;
      const identity = botIdentity({ bot: bot.name, roles, clusterNames: this.d.clusterNames(), instanceId, generation, renewable: false, token: token.name });
      this.assertUnlocked(identity);
      const issued = await this.d.ca.issue({ publicKeyPem: input.publicKey, identity, ttlMs: botCertTtl(roles, input.ttlMs) });
      const auth: Authentication = { at: now, kind: 'rejoin', generation, serial: issued.serial, ...(meta.remote ? { remote: meta.remote } : {}) };
      if (!(await this.instances.rejoined(inst, generation, issued.notAfter, auth))) continue;
      await this.tokens.touch(token.name, now);
      this.remember(instanceId, { generation, pendingGeneration: null, pendingKeyFp: null, renewable: false });
      await this.d.audit.record({ event: 'bot.rejoin', outcome: 'ok', actor: trail.actor, data: { ...trail.data, instance: instanceId, generation, serial: issued.serial } });
      return this.credentials(identity, issued.certPem, issued.notAfter);
    }
    throw busy();
  }

  // ---- renewal ----

  /**
   * Two-phase renewal for a new key, by the holder of the instance's current certificate shown
   * over mutual TLS or proven by a signature in the body: one policy for both.
   */
  async renew(presented: Presented, input: RenewInput, meta: CallMeta = {}): Promise<RenewedCredentials> {
    const trail: AuditTrail = { actor: 'anonymous', data: { remote: meta.remote, auth: isSigned(presented) ? 'signed' : 'mtls' } };
    return audited(this.d.audit, 'bot.renew', trail, async () => {
      // Read after the certificate, so a malformed key is refused in the instance's name; read once, issued for below.
      let newKey: { key: CertifiableKey; fp: string } | undefined;
      const readNewKey = () => {
        if (!newKey) {
          const key = readPublicKey(input.publicKey);
          newKey = { key, fp: keyFingerprint(key) };
        }
        return newKey;
      };
      const cert = this.verifyPresented(presented, 'renewal', trail, (key, certFp, s) => verifyRenewProof(key, certFp, readNewKey().fp, s.at, s.proof));
      const { key: publicKey, fp: keyFp } = readNewKey();
      const id = cert.identity;
      const instanceId = id.botInstance!;
      trail.data.generation = id.generation;
      this.assertUnlocked(id);
      if (!id.renewable) {
        throw new TapgateError('not_renewable', 'this bot joined with a non-renewable token: it renews by joining again with the token (tapgate bot start does this by itself)', {
          status: 403,
          auditReason: 'renewal of a non-renewable certificate',
        });
      }
      const presentedGeneration = id.generation ?? 0;
      for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        const found = await this.instances.getWithBotRoles(instanceId);
        if (!found) throw unknownInstance(instanceId);
        const { instance: inst, botRoles } = found;
        const bot = botRoles && { name: inst.bot, roles: botRoles };
        if (!bot) throw new TapgateError('unknown_bot', `bot "${inst.bot}" was removed; ask an administrator to add it again and issue a token`, { status: 403, auditReason: 'renewal for a removed bot' });
        const decision = decideRenewal(inst, presentedGeneration, keyFp, issuedKeys(inst.authentications));
        const now = this.d.clock.now();
        const remote = meta.remote ? { remote: meta.remote } : {};
        switch (decision.kind) {
          case 'theft':
            throw await this.theft(inst, id, decision.presented, 'renewal');
          case 'conflict':
            throw new TapgateError(
              'renewal_pending',
              `a renewal of this instance for another key is waiting for its first use (generation ${decision.pending}); retry with the key you renewed for, or wait for the certificate to expire and join again`,
              { status: 409, auditReason: `renewal for a different key while generation ${decision.pending} is pending` },
            );
          case 'repeat':
            throw new TapgateError(
              'renewal_repeated',
              `this renewal was answered already: generation ${decision.presented + 1} was issued for this key and generation ${decision.committed} is in use; renew with the newest certificate`,
              { status: 409, auditReason: `generation ${decision.presented} repeated the renewal of generation ${decision.presented + 1} (replay or stale retry): no lock` },
            );
          case 'reissue-pending': {
            // The bot never got the answer: the same certificate, for the same key, is no theft.
            const certPem = inst.pendingCert!;
            const notAfter = inst.pendingNotAfter!;
            if (notAfter <= now) break;
            await this.instances.recordAuthentication(inst.id, { at: now, kind: 'renew-retry', generation: decision.pending, serial: '', keyFp, ...remote });
            await this.d.audit.record({ event: 'bot.renew', outcome: 'ok', actor: trail.actor, data: { ...trail.data, instance: inst.id, issued: decision.pending, retry: true } });
            return this.renewed(this.credentials(this.d.ca.parseAndVerify(certPem).identity, certPem, notAfter), input.caFingerprint);
          }
          case 'renew':
          case 'commit-and-renew': {
            const roles = await this.d.roles.resolve(bot.roles);
            const identity = botIdentity({ bot: bot.name, roles, clusterNames: this.d.clusterNames(), instanceId, generation: decision.issue, renewable: true, token: inst.token });
            this.assertUnlocked(identity);
            const issued = await this.d.ca.issue({ publicKey, identity, ttlMs: botCertTtl(roles, input.ttlMs) });
            const pending: PendingCert = { generation: decision.issue, certPem: issued.certPem, keyFp, notAfter: issued.notAfter };
            const auth: Authentication = { at: now, kind: 'renew', generation: decision.issue, serial: issued.serial, keyFp, ...remote };
            const won =
              decision.kind === 'renew'
                ? await this.instances.setPending(inst, pending, auth)
                : await this.instances.commitAndSetPending(inst, decision.commit, pending, auth);
            if (!won) continue;
            const committed = decision.kind === 'renew' ? inst.generation : decision.commit;
            this.remember(inst.id, { generation: committed, pendingGeneration: decision.issue, pendingKeyFp: keyFp, renewable: true });
            await this.d.audit.record({
              event: 'bot.renew',
              outcome: 'ok',
              actor: trail.actor,
              data: { ...trail.data, instance: inst.id, committed, issued: decision.issue, serial: issued.serial },
            });
            return this.renewed(this.credentials(identity, issued.certPem, issued.notAfter), input.caFingerprint);
          }
        }
        // An expired pending certificate is useless: clear it by issuing afresh for this key.
        await this.d.db.run('UPDATE bot_instances SET pending_generation = NULL, pending_cert = NULL, pending_key_fp = NULL, pending_not_after = NULL WHERE id = $1 AND pending_generation = $2', [
          inst.id,
          inst.pendingGeneration,
        ]);
      }
      throw busy();
    });
  }

  // ---- heartbeat ----

  async heartbeat(presented: Presented, input: HeartbeatInput, meta: CallMeta = {}): Promise<{ instanceId: string; generation: number }> {
    const signed = isSigned(presented);
    const trail: AuditTrail = { actor: 'anonymous', data: { remote: meta.remote, auth: signed ? 'signed' : 'mtls' } };
    try {
      const cert = this.verifyPresented(presented, 'a heartbeat', trail, (key, certFp, s) => verifyHeartbeatProof(key, certFp, s.at, s.proof));
      const id = cert.identity;
      this.assertUnlocked(id);
      // A signed heartbeat can be replayed within its window, after the bot moved on: no lock from it.
      await this.observeUse(id, signed ? 'refuse' : 'lock');
      const now = this.d.clock.now();
      await this.instances.recordHeartbeat(id.botInstance!, {
        at: now,
        hostname: input.hostname,
        version: input.version,
        uptimeS: input.uptimeS,
        oneshot: input.oneshot,
        generation: id.generation ?? 0,
        ...(meta.remote ? { remote: meta.remote } : {}),
      });
      return { instanceId: id.botInstance!, generation: id.generation ?? 0 };
    } catch (e) {
      // Heartbeats are frequent: only refusals reach the audit log.
      if (e instanceof TapgateError) {
        await this.d.audit.record({ event: 'bot.heartbeat', outcome: 'refused', actor: trail.actor, reason: e.auditReason, data: { ...trail.data, code: e.code } });
      }
      throw e;
    }
  }

  // ---- kube path ----

  /**
   * Called for every bot certificate the kube listener accepts. The fast path is a map lookup;
   * the store is asked only for an unknown or stale instance, the first use of a pending
   * generation (which commits it) and a generation that looks copied (which locks the instance).
   * Throws the refusal (a TapgateError) when the certificate must not be used. `onCopy: 'refuse'`
   * refuses a copied-looking generation without locking (for replayable signed heartbeats).
   */
  observeUse(id: Identity, onCopy: 'lock' | 'refuse' = 'lock'): void | Promise<void> {
    if (id.kind !== 'bot' || !id.botInstance || id.generation === undefined) return;
    const c = this.cache.get(id.botInstance);
    if (c && this.d.clock.now() - c.at < STATE_CACHE_MS && (!c.renewable || decideUse(c, id.generation).kind === 'ok')) return;
    const key = `${id.botInstance}:${id.generation}:${onCopy}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.observeSlow(id, onCopy).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async observeSlow(id: Identity, onCopy: 'lock' | 'refuse'): Promise<void> {
    const instanceId = id.botInstance!;
    const presented = id.generation!;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const st = await this.instances.state(instanceId);
      if (!st) {
        this.cache.delete(instanceId);
        throw unknownInstance(instanceId);
      }
      this.remember(instanceId, st);
      // Non-renewable instances renew by joining with the token; a copy of their certificate proves nothing more.
      if (!st.renewable) return;
      const decision = decideUse(st, presented);
      if (decision.kind === 'ok') return;
      if (decision.kind === 'theft') {
        if (onCopy === 'refuse') {
          throw new TapgateError('generation_stale', `certificate generation ${presented} is older than the instance's (${st.generation}); use the newest certificate`, {
            status: 403,
            auditReason: `generation ${presented} after ${st.generation} in a signed request (replayable: no lock)`,
          });
        }
        const inst = await this.instances.get(instanceId);
        throw await this.theft(inst ?? { id: instanceId, bot: id.name, generation: st.generation }, id, presented, 'use');
      }
      if (await this.instances.commit(instanceId, decision.commit, this.d.clock.now())) {
        this.remember(instanceId, { generation: decision.commit, pendingGeneration: null, pendingKeyFp: null, renewable: true });
        await this.d.audit.record({ event: 'bot.generation_committed', outcome: 'ok', actor: actorOf(id.name, instanceId), data: { instance: instanceId, generation: decision.commit } });
        return;
      }
    }
    throw busy();
  }

  /** Drops cached generation state (after removals; other replicas hear it on BOTS_CHANNEL). */
  async forget(instanceIds: string[] | 'all'): Promise<void> {
    if (instanceIds === 'all') {
      this.cache.clear();
      await this.d.db.notify(BOTS_CHANNEL, '');
      return;
    }
    for (const i of instanceIds) {
      this.cache.delete(i);
      await this.d.db.notify(BOTS_CHANNEL, i);
    }
  }

  // ---- internals ----

  private remember(instanceId: string, st: GenerationState & { renewable: boolean }): void {
    this.cache.set(instanceId, { ...st, at: this.d.clock.now() });
  }

  /**
   * The bot certificate the caller holds, shown over mutual TLS or proven in the body by `proofOk`
   * (a signature with the certificate's key over the request, made within PROOF_WINDOW_MS of now).
   * Names the instance in the audit trail as soon as the certificate is known.
   */
  private verifyPresented(
    presented: Presented,
    what: string,
    trail: AuditTrail,
    proofOk: (certKey: KeyObject, certFp: string, signed: SignedCert) => boolean,
  ): VerifiedCert {
    if (!isSigned(presented)) {
      if (!presented || presented.length === 0) {
        throw new TapgateError('client_cert_required', `${what} needs the bot's current certificate, over mutual TLS or with a signed proof; run "tapgate bot start", which sends it`, {
          status: 401,
          auditReason: 'no client certificate',
        });
      }
      return this.botCert(this.d.ca.parseAndVerify(presented), what, trail);
    }
    const cert = this.botCert(this.d.ca.parseAndVerify(presented.certPem), what, trail);
    const now = this.d.clock.now();
    if (!withinProofWindow(presented.at, now)) {
      throw new TapgateError(
        'proof_stale',
        `the proof was signed at ${sentTime(presented.at)}, more than ${PROOF_WINDOW_MS / 60_000} minutes from the gate's time (${iso(now)}); set this machine's clock right (NTP)`,
        { status: 401, auditReason: `${what} proof outside the ${PROOF_WINDOW_MS / 60_000}-minute window` },
      );
    }
    let key = this.proofKeys.get(cert.fingerprint);
    if (!key) {
      key = certificateKey(certificateDer(presented.certPem));
      this.proofKeys.set(cert.fingerprint, key);
    }
    if (!proofOk(key, cert.fingerprint, presented)) {
      throw new TapgateError('bad_proof', `the proof does not verify: it must be signed with the key of the certificate sent, over this request; update the tapgate client`, {
        status: 403,
        auditReason: `${what} proof invalid`,
      });
    }
    return cert;
  }

  private botCert(cert: VerifiedCert, what: string, trail: AuditTrail): VerifiedCert {
    if (cert.identity.usage !== 'bot' || !cert.identity.botInstance) {
      throw new TapgateError('wrong_cert', `a ${cert.identity.usage} certificate cannot be used for ${what}; use the bot's certificate`, {
        status: 403,
        auditReason: `${cert.identity.usage} certificate presented for bot ${what}`,
      });
    }
    trail.actor = actorOf(cert.identity.name, cert.identity.botInstance);
    return cert;
  }

  private assertUnlocked(id: Identity): void {
    const l = this.d.locks.match(id);
    if (l) throw lockedError(l);
  }

  /** Locks this instance only (its siblings keep working), audits why, and returns the refusal. */
  private async theft(inst: Pick<BotInstance, 'id' | 'bot' | 'generation'>, id: Identity, presented: number, where: 'renewal' | 'use'): Promise<TapgateError> {
    const actor = actorOf(inst.bot, inst.id);
    const message = `certificate generation ${presented} presented (${where}) after generation ${inst.generation} was in use: the certificate was probably copied`;
    // Only a lock on this very instance counts as already locked; a bot or role lock may be lifted.
    const onlyInstance: Identity = { usage: 'bot', kind: 'bot', name: '', roles: [], kubeUsers: [], kubeGroups: [], clusters: [], botInstance: inst.id };
    if (!this.d.locks.match(onlyInstance)) {
      await this.d.audit.record({ event: 'bot.theft_detected', outcome: 'refused', actor, reason: 'generation mismatch', data: { instance: inst.id, bot: inst.bot, presented, committed: inst.generation, where } });
      await this.d.locks.create({ targetKind: 'bot_instance', target: inst.id, message, createdBy: 'system' });
    }
    this.cache.delete(inst.id);
    return new TapgateError(
      'bot_instance_locked',
      `${message}. Bot instance ${inst.id} is locked (its sibling instances are not). An administrator should find out how the certificate leaked, then remove the instance ("tapgate bots instances rm ${inst.id}") and give the bot a new join token`,
      { status: 403, auditReason: `generation ${presented} after ${inst.generation}: instance locked` },
    );
  }

  private credentials(identity: Identity, certPem: string, notAfter: number): BotCredentials {
    const tlsCaPem = this.d.tlsCaPem();
    const caPem = tlsCaPem + this.d.ca.certPem;
    return {
      certPem,
      caPem,
      tlsCaPem,
      bot: identity.name,
      instanceId: identity.botInstance!,
      generation: identity.generation!,
      notAfter,
      renewable: identity.renewable!,
      kubeUrl: this.d.kubeUrl(),
      clusters: identity.clusters,
      caFingerprint: this.caFingerprint(caPem, tlsCaPem),
    };
  }

  /** Leaves out the CA files the bot already holds (about half the answer). */
  private renewed(c: BotCredentials, held: string | undefined): RenewedCredentials {
    if (held !== c.caFingerprint) return c;
    const { caPem: _ca, tlsCaPem: _tls, ...rest } = c;
    return rest;
  }

  /** Hashed once per CA text, not per answer. */
  private caFingerprint(caPem: string, tlsCaPem: string): string {
    const last = this.lastCaFingerprint;
    if (last?.caPem === caPem && last.tlsCaPem === tlsCaPem) return last.fp;
    this.lastCaFingerprint = { caPem, tlsCaPem, fp: caBundleFingerprint(caPem, tlsCaPem) };
    return this.lastCaFingerprint.fp;
  }
}

function exhausted(token: JoinToken): TapgateError {
  const times = token.maxUses === 1 ? 'once' : `${token.maxUses} times`;
  return new TapgateError(
    'token_exhausted',
    `the join token "${token.name}" was already used (it allows ${times}); a bot that joined renews with its certificate and needs no token; for another instance ask an administrator for a new token ("tapgate tokens add --bot ${token.botName}")`,
    { status: 401, auditReason: 'join token exhausted' },
  );
}

function unknownInstance(id: string): TapgateError {
  return new TapgateError('instance_unknown', `bot instance ${id} no longer exists (removed, or its bot was); the bot must join again with a new token`, {
    status: 403,
    auditReason: 'unknown bot instance',
  });
}

function busy(): TapgateError {
  return new TapgateError('busy', 'the bot instance changed while this request was handled; retry in a moment', { status: 503, auditReason: 'concurrent update' });
}
