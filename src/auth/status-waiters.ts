import type { Db } from '../store/db';

/**
 * Long-poll support: a request handler waits until a login session or MFA request it watches
 * changes. Changes are announced through the store's notify, so a waiter on one replica wakes
 * when another replica approves (PostgreSQL LISTEN/NOTIFY; in-process for SQLite).
 */
export class StatusWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();
  private unlisten?: () => void;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly channel: string,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(this.channel, (id) => this.wake(id));
  }

  /** Wakes every waiter (used at shutdown so long polls do not hold the server open). */
  close(): void {
    this.closed = true;
    this.unlisten?.();
    for (const id of [...this.waiting.keys()]) this.wake(id);
  }

  async changed(id: string): Promise<void> {
    await this.db.notify(this.channel, id);
  }

  /**
   * Calls `check` until it returns a value or `waitMs` passes (then returns undefined). The
   * waiter is registered before each check, so a change between check and wait is not missed.
   */
  async until<T>(id: string, waitMs: number, check: () => Promise<T | undefined>, signal?: AbortSignal): Promise<T | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let wake!: () => void;
      const woken = new Promise<void>((r) => (wake = r));
      this.add(id, wake);
      try {
        const v = await check();
        if (v !== undefined) return v;
        const left = deadline - Date.now();
        if (left <= 0 || this.closed || signal?.aborted) return undefined;
        let timer: NodeJS.Timeout | undefined;
        const onAbort = () => wake();
        signal?.addEventListener('abort', onAbort, { once: true });
        await Promise.race([woken, new Promise<void>((r) => (timer = setTimeout(r, left)))]);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      } finally {
        this.remove(id, wake);
      }
    }
  }

  private add(id: string, fn: () => void): void {
    let set = this.waiting.get(id);
    if (!set) this.waiting.set(id, (set = new Set()));
    set.add(fn);
  }

  private remove(id: string, fn: () => void): void {
    const set = this.waiting.get(id);
    set?.delete(fn);
    if (set?.size === 0) this.waiting.delete(id);
  }

  private wake(id: string): void {
    for (const fn of this.waiting.get(id) ?? []) fn();
  }
}
