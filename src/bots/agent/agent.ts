import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../../core/clock';
import { describeError, TapgateError } from '../../core/errors';
import { generateKeyPair } from '../../pki/ca';
import { signRejoinProof } from '../key-proof';
import type { RenewedCredentials } from '../service';
import { parseToken } from '../token-secret';
import { HttpBotApi, isTransient, type BotApi } from './bot-api';
import { DestinationLock, writeAtomic } from './destination';
import { botKubeconfig } from './kubeconfig';
import { loadIdentity, saveIdentity, type SavedIdentity } from './saved-identity';
import { backoffDelay, checkAgentTimes, renewalDelay } from './schedule';

export const AGENT_VERSION = '0.1.0';
const DEFAULT_HEARTBEAT_MS = 5 * 60_000;
/** A oneshot run gives up after this many failed attempts (about a minute of backoff). */
const ONESHOT_ATTEMPTS = 7;
/** Gate refusals after which a renewable bot may still start over with its token. */
const REJOIN_ON = new Set(['cert_expired', 'instance_unknown', 'cert_untrusted', 'unknown_bot']);

export const OUTPUT_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', kubeconfig: 'kubeconfig.yaml' } as const;

export interface BotAgentOptions {
  /** the gate's API, e.g. https://gate.example.com:3025 */
  server: string;
  /** join token file; needed for the first join and, for non-renewable tokens, every renewal */
  tokenFile?: string;
  destination: string;
  /** where the instance's identity is kept between runs; default <destination>/.tapgate-bot */
  dataDir?: string;
  /** kubeconfig contexts; empty: every cluster the bot may reach */
  clusters: string[];
  oneshot: boolean;
  ttlMs: number;
  renewalIntervalMs: number;
  heartbeatIntervalMs?: number;
  /** PEM of the CA the gate's TLS certificate chains to, for the first join */
  caPem?: string;
  api?: BotApi;
  clock?: Clock;
  random?: () => number;
  log?: (msg: string) => void;
}

/**
 * `tapgate bot start`: join (or renew a saved identity), write tls.crt, tls.key, ca.crt and
 * kubeconfig.yaml atomically into the destination, heartbeat, then renew before expiry with
 * backoff and jitter on errors. Refusals that need a person (a lock, a used-up token) end the
 * run with the gate's message; `--oneshot` ends it after the first write.
 */
export class BotAgent {
  private readonly o: Required<Pick<BotAgentOptions, 'heartbeatIntervalMs'>> & BotAgentOptions;
  private readonly api: BotApi;
  /** the API client this agent made (and closes); one given in the options belongs to the caller */
  private readonly ownApi?: HttpBotApi;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: (msg: string) => void;
  private readonly dataDir: string;
  private readonly dest: string;
  private id?: SavedIdentity;
  private joinKey?: { publicKeyPem: string; privateKeyPem: string };
  private stopped = false;
  private wake?: () => void;
  private readonly startedAt: number;

  constructor(opts: BotAgentOptions) {
    checkAgentTimes(opts.ttlMs, opts.renewalIntervalMs);
    this.o = { heartbeatIntervalMs: DEFAULT_HEARTBEAT_MS, ...opts };
    this.dest = resolve(opts.destination);
    this.dataDir = resolve(opts.dataDir ?? join(this.dest, '.tapgate-bot'));
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => undefined);
    this.api = opts.api ?? (this.ownApi = new HttpBotApi(opts.server, () => this.id?.tlsCaPem || opts.caPem || '', { clock: this.clock }));
    this.startedAt = this.clock.now();
  }

  get identity(): SavedIdentity | undefined {
    return this.id;
  }

  get files(): { cert: string; key: string; ca: string; kubeconfig: string } {
    return {
      cert: join(this.dest, OUTPUT_FILES.cert),
      key: join(this.dest, OUTPUT_FILES.key),
      ca: join(this.dest, OUTPUT_FILES.ca),
      kubeconfig: join(this.dest, OUTPUT_FILES.kubeconfig),
    };
  }

  /** Runs until stop() (or, with oneshot, until the first credentials are written and reported). */
  async run(): Promise<void> {
    const lock = await DestinationLock.acquire(this.dest);
    try {
      await this.withRetries(() => this.obtain(), this.o.oneshot ? ONESHOT_ATTEMPTS : Infinity);
      if (this.stopped && !this.id) return;
      await this.beat().catch((e: unknown) => this.log(`heartbeat failed: ${describeError(e)}`));
      if (this.o.oneshot) return;
      await this.loop();
    } finally {
      await this.ownApi?.close();
      await lock.release();
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  // ---- the steady state ----

  private async loop(): Promise<void> {
    let attempt = 0;
    let nextRenew = this.clock.now() + renewalDelay(this.clock.now(), this.id!.notAfter, this.o.renewalIntervalMs);
    let nextBeat = this.clock.now() + this.o.heartbeatIntervalMs;
    while (!this.stopped) {
      await this.sleep(Math.min(nextRenew, nextBeat) - this.clock.now());
      if (this.stopped) break;
      if (this.clock.now() >= nextRenew) {
        try {
          await this.obtain();
          attempt = 0;
          nextRenew = this.clock.now() + renewalDelay(this.clock.now(), this.id!.notAfter, this.o.renewalIntervalMs);
          nextBeat = this.clock.now();
        } catch (e) {
          if (!isTransient(e)) throw e;
          const delay = backoffDelay(attempt++, this.random);
          this.log(`renewal failed (${describeError(e)}); retrying in ${Math.round(delay / 1000)}s`);
          nextRenew = this.clock.now() + delay;
        }
      }
      if (this.clock.now() >= nextBeat) {
        try {
          await this.beat();
        } catch (e) {
          if (!isTransient(e)) throw e;
          this.log(`heartbeat failed: ${describeError(e)}`);
        }
        nextBeat = this.clock.now() + this.o.heartbeatIntervalMs;
      }
    }
  }

  private async withRetries(fn: () => Promise<void>, attempts: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e) || attempt + 1 >= attempts || this.stopped) throw e;
        const delay = backoffDelay(attempt, this.random);
        this.log(`${describeError(e)}; retrying in ${Math.round(delay / 1000)}s`);
        await this.sleep(delay);
        if (this.stopped) return;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((res) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        res();
      }
      this.wake = done;
    });
  }

  // ---- getting credentials ----

  /** Fresh credentials by whichever way this instance renews, written out. */
  private async obtain(): Promise<void> {
    this.id ??= await this.loadSaved();
    const id = this.id;
    if (!id) return this.join();
    if (!id.renewable) return this.rejoin(id);
    try {
      return await this.renew(id);
    } catch (e) {
      // A certificate that lapsed (the gate was down too long) or an instance removed by an
      // administrator: start over with the token if there is one. Never after a lock.
      if (e instanceof TapgateError && REJOIN_ON.has(e.code) && this.o.tokenFile) {
        this.log(`cannot renew (${e.message}); joining again with the token`);
        return this.join();
      }
      throw e;
    }
  }

  private async loadSaved(): Promise<SavedIdentity | undefined> {
    const saved = await loadIdentity(this.dataDir);
    if (saved && new URL(saved.server).origin !== new URL(this.o.server).origin) {
      this.log(`the saved identity in ${this.dataDir} belongs to ${saved.server}; joining ${this.o.server} instead`);
      return undefined;
    }
    return saved;
  }

  private async readToken(): Promise<{ text: string; name: string }> {
    if (!this.o.tokenFile) {
      throw new TapgateError('no_token', `there is no saved identity in ${this.dataDir} to renew; give the bot a join token with --token-file (create one with "tapgate tokens add --bot <bot>")`);
    }
    let text: string;
    try {
      text = (await fs.readFile(this.o.tokenFile, 'utf8')).trim();
    } catch (e) {
      throw new TapgateError('no_token', `cannot read the token file ${this.o.tokenFile}: ${describeError(e)}`);
    }
    return { text, name: parseToken(text).name };
  }

  private async join(): Promise<void> {
    const token = await this.readToken();
    // Kept across retries: the gate answers a join repeated with the same key again instead of spending another use.
    const key = (this.joinKey ??= await generateKeyPair());
    const creds = await this.api.join({ token: token.text, publicKey: key.publicKeyPem, ttl: this.o.ttlMs });
    await this.accept(creds, key.privateKeyPem, token.name, 'joined');
    this.joinKey = undefined;
  }

  private async rejoin(id: SavedIdentity): Promise<void> {
    const token = await this.readToken();
    const nextKey = await this.nextKey(id);
    const proof = signRejoinProof(createPrivateKey(id.keyPem), id.instanceId, token.name, publicOf(nextKey));
    const creds = await this.api.join({ token: token.text, publicKey: publicOf(nextKey), ttl: this.o.ttlMs, previousCert: id.certPem, proof });
    await this.accept(creds, nextKey, token.name, 'joined again');
  }

  private async renew(id: SavedIdentity): Promise<void> {
    const nextKey = await this.nextKey(id);
    const creds = await this.api.renew({ certPem: id.certPem, keyPem: id.keyPem }, { publicKey: publicOf(nextKey), ttl: this.o.ttlMs }, { caFingerprint: id.caFingerprint });
    await this.accept(creds, nextKey, id.tokenName, 'renewed');
  }

  /** The key for the renewal in flight, saved before asking so a retry asks for the same one. */
  private async nextKey(id: SavedIdentity): Promise<string> {
    if (id.nextKeyPem) return id.nextKeyPem;
    id.nextKeyPem = (await generateKeyPair()).privateKeyPem;
    await saveIdentity(this.dataDir, id);
    return id.nextKeyPem;
  }

  private async accept(creds: RenewedCredentials, keyPem: string, tokenName: string, how: string): Promise<void> {
    if (!new X509Certificate(creds.certPem).checkPrivateKey(createPrivateKey(keyPem))) {
      throw new TapgateError('gate_error', 'the gate returned a certificate for another key; is the server address right?', { status: 502 });
    }
    const cas = this.caFiles(creds);
    const first = !this.id;
    const id: SavedIdentity = {
      version: 1,
      server: this.o.server,
      bot: creds.bot,
      instanceId: creds.instanceId,
      renewable: creds.renewable,
      tokenName,
      certPem: creds.certPem,
      keyPem,
      ...cas,
      kubeUrl: creds.kubeUrl,
      clusters: creds.clusters,
      generation: creds.generation,
      notAfter: creds.notAfter,
    };
    await saveIdentity(this.dataDir, id);
    await this.writeOutputs(id, first);
    // Only now: whoever watches `identity` may use the files.
    this.id = id;
    this.log(
      `${how}: bot ${creds.bot}, instance ${creds.instanceId}, generation ${creds.generation}${creds.renewable ? '' : ' (non-renewable)'}; certificate valid until ${new Date(creds.notAfter).toISOString()}`,
    );
  }

  /** The CA files the answer carries, or, when it left them out as unchanged, the ones held. */
  private caFiles(creds: RenewedCredentials): Pick<SavedIdentity, 'caPem' | 'tlsCaPem' | 'caFingerprint'> {
    if (creds.caPem !== undefined && creds.tlsCaPem !== undefined) return { caPem: creds.caPem, tlsCaPem: creds.tlsCaPem, caFingerprint: creds.caFingerprint };
    const held = this.id;
    if (!held?.caFingerprint || held.caFingerprint !== creds.caFingerprint) {
      throw new TapgateError('gate_error', 'the gate left the CA certificates out of its answer but they are not the ones this bot holds; is the server address right?', { status: 502 });
    }
    return { caPem: held.caPem, tlsCaPem: held.tlsCaPem, caFingerprint: held.caFingerprint };
  }

  private async writeOutputs(id: SavedIdentity, first: boolean): Promise<void> {
    const clusters = this.o.clusters.length ? this.o.clusters : id.clusters;
    const denied = clusters.filter((c) => !id.clusters.includes(c));
    if (denied.length) {
      const msg = `bot ${id.bot} may not reach cluster${denied.length > 1 ? 's' : ''} ${denied.join(', ')} (its roles allow: ${id.clusters.join(', ') || 'none'}); change --cluster or the bot's roles`;
      if (first) throw new TapgateError('cluster_denied', msg, { status: 403 });
      this.log(msg);
    }
    const f = this.files;
    await fs.mkdir(this.dest, { recursive: true, mode: 0o700 });
    // Each file is replaced whole; a reader between the key and certificate renames sees a mismatched pair and fails rather than misbehaves.
    await writeAtomic(f.key, id.keyPem);
    await writeAtomic(f.cert, id.certPem);
    await writeAtomic(f.ca, id.caPem);
    await writeAtomic(f.kubeconfig, botKubeconfig({ bot: id.bot, kubeUrl: id.kubeUrl, clusters, certFile: f.cert, keyFile: f.key, ...(id.tlsCaPem ? { caFile: f.ca } : {}) }));
  }

  private async beat(): Promise<void> {
    const id = this.id!;
    await this.api.heartbeat(
      { certPem: id.certPem, keyPem: id.keyPem },
      { hostname: hostname(), version: AGENT_VERSION, uptime: Math.round((this.clock.now() - this.startedAt) / 1000), oneshot: this.o.oneshot },
    );
  }
}

const publicOf = (privateKeyPem: string): string => createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }) as string;
