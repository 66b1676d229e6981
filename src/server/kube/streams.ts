import type { Clock } from '../../core/clock';
import type { Lock } from '../../locks/match';
import type { Identity } from '../../pki/identity';
import type { StreamEndReason } from './auth-context';
import type { StreamKind } from './request-path';

/** A live stream as operators (and the connection monitor) see it. */
export interface StreamInfo {
  id: number;
  /** "user:alice", "bot:ci/<instance>" */
  actor: string;
  identity: Identity;
  cluster: string;
  kind: StreamKind;
  /** the kube path (no query), e.g. /api/v1/namespaces/default/pods/web/exec */
  path: string;
  namespace?: string;
  pod?: string;
  /** exec: the command run in the container */
  command?: string[];
  remote: string;
  startedAt: number;
  /** the MFA (or bot) certificate's expiry */
  certNotAfter: number;
  loginExpires?: number;
  /** when the stream is cut unless it ends sooner; Infinity: only a lock ends it */
  deadline: number;
  deadlineReason: StreamEndReason;
}

export interface StreamHandle {
  readonly info: StreamInfo;
  /** Marks the stream as ended by its own course (client or upstream closed it). Idempotent. */
  end(reason: StreamEndReason): void;
}

interface Entry {
  info: StreamInfo;
  /** tears the stream down on both sides */
  cut: (reason: StreamEndReason, detail: string) => void;
  ended: boolean;
}

export interface StreamHooks {
  opened?(info: StreamInfo): void;
  ended?(info: StreamInfo, reason: StreamEndReason, detail?: string): void;
}

/**
 * Every long-running stream on this gate (watch, logs -f, exec, attach, port-forward, other
 * upgrades), keyed by id. A sweep on a short timer cuts streams past their deadline; a lock
 * change cuts every stream the lock covers at once.
 */
export class StreamRegistry {
  private readonly live = new Map<number, Entry>();
  private nextId = 1;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    private readonly locks: { match(id: Identity): Lock | undefined },
    private readonly hooks: StreamHooks = {},
  ) {}

  get size(): number {
    return this.live.size;
  }

  /** Starts the sweep; 250 ms keeps a lock or expiry cut well inside one second. */
  start(intervalMs = 250, onSweep?: () => void): void {
    this.timer = setInterval(() => {
      this.sweep();
      onSweep?.();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  open(info: Omit<StreamInfo, 'id'>, cut: (reason: StreamEndReason, detail: string) => void): StreamHandle {
    const full: StreamInfo = { ...info, id: this.nextId++ };
    const entry: Entry = { info: full, cut, ended: false };
    this.live.set(full.id, entry);
    this.hooks.opened?.(full);
    return {
      info: full,
      end: (reason) => this.finish(entry, reason),
    };
  }

  list(filter?: { actor?: string; cluster?: string }): StreamInfo[] {
    const out: StreamInfo[] = [];
    for (const e of this.live.values()) {
      if (filter?.actor && e.info.actor !== filter.actor) continue;
      if (filter?.cluster && e.info.cluster !== filter.cluster) continue;
      out.push(e.info);
    }
    return out;
  }

  /** Cuts one stream (an operator's "disconnect"); false if it is not live. */
  disconnect(id: number, detail = 'disconnected by an administrator'): boolean {
    const e = this.live.get(id);
    if (!e) return false;
    this.cutEntry(e, 'disconnected', detail);
    return true;
  }

  /** Cuts streams past their deadline and streams a lock now covers. Returns how many were cut. */
  sweep(): number {
    const now = this.clock.now();
    let cut = 0;
    for (const e of this.live.values()) {
      const lock = this.locks.match(e.info.identity);
      if (lock) {
        this.cutEntry(e, 'locked', lockDetail(lock));
        cut++;
      } else if (now > e.info.deadline) {
        const detail = e.info.deadlineReason === 'mfa_cert_expired' ? 'the MFA certificate expired (disconnect_expired_cert)' : 'the login session ended';
        this.cutEntry(e, e.info.deadlineReason, detail);
        cut++;
      }
    }
    return cut;
  }

  /** Ends every stream (listener shutdown). */
  cutAll(reason: StreamEndReason, detail: string): void {
    for (const e of [...this.live.values()]) this.cutEntry(e, reason, detail);
  }

  private cutEntry(e: Entry, reason: StreamEndReason, detail: string): void {
    if (e.ended) return;
    this.finish(e, reason, detail);
    try {
      e.cut(reason, detail);
    } catch {
      // the stream is already gone; nothing left to tear down
    }
  }

  private finish(e: Entry, reason: StreamEndReason, detail?: string): void {
    if (e.ended) return;
    e.ended = true;
    this.live.delete(e.info.id);
    this.hooks.ended?.(e.info, reason, detail);
  }
}

function lockDetail(l: Lock): string {
  return `locked (${l.targetKind} ${l.target})${l.message ? `: ${l.message}` : ''}`;
}
