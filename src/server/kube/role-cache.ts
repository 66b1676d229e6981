import type { Logger } from 'pino';
import type { Role, RoleRepo } from '../../auth/roles';

/**
 * All roles in memory, reloaded on a short interval: the kube path resolves roles on every new
 * certificate and must not wait for the store. Roles change rarely; a change takes effect within
 * one interval, and `onChange` lets callers drop what they computed from the old roles.
 */
export class RoleCache {
  private byName = new Map<string, Role>();
  private snapshot = '';
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly repo: RoleRepo,
    private readonly log: Logger,
    private readonly intervalMs = 5_000,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      void this.reload().catch((e: unknown) => this.log.warn({ err: e }, 'kube listener: reloading roles failed; keeping the previous ones'));
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reloads from the store; true if the roles changed. */
  async reload(): Promise<boolean> {
    const roles = await this.repo.list();
    const snapshot = JSON.stringify(roles);
    if (snapshot === this.snapshot) return false;
    this.snapshot = snapshot;
    this.byName = new Map(roles.map((r) => [r.name, r]));
    for (const fn of this.listeners) fn();
    return true;
  }

  /** A reload now; failures keep the previous roles (and are logged). */
  refreshNow(): Promise<boolean> {
    return this.reload().catch((e: unknown) => {
      this.log.warn({ err: e }, 'kube listener: reloading roles failed; keeping the previous ones');
      return false;
    });
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The roles that exist among `names`, and the names that do not (deleted since the certificate was issued). */
  resolve(names: readonly string[]): { roles: Role[]; missing: string[] } {
    const roles: Role[] = [];
    const missing: string[] = [];
    for (const n of names) {
      const r = this.byName.get(n);
      if (r) roles.push(r);
      else missing.push(n);
    }
    return { roles, missing };
  }
}
