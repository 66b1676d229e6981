import type { AgentStatus, ConnectionInfo, PendingTap } from '../client/agent-types';
import type { TapPrompt, TapPromptCloseReason } from '../client/tap-prompt';
import type { Clock } from '../core/clock';
import { describeError } from '../core/errors';
import type { AgentSource } from './agent-source';
import type { LaunchRequest } from './launch-args';
import { NotificationRules, type Notice } from './notification-rules';
import type { TraySettings } from './settings-store';
import { nextViewChangeAt, trayView, type MenuEntry, type TrayAction, type TrayIconState } from './tray-model';

/** What the controller asks of the desktop; Electron implements it in electron/main.ts, tests with fakes. */
export interface TrayPorts {
  setAppearance(a: { icon: TrayIconState; tooltip: string; title: string }): void;
  /** called only when the menu really changed */
  setMenu(menu: MenuEntry[]): void;
  notify(n: Notice, onClick?: () => void): void;
  /** open (or refresh and focus) the tap window for this request */
  showTapWindow(p: PendingTap): void;
  closeTapWindow(): void;
  showStatusWindow(view: 'status' | 'connections' | 'settings'): void;
  copyText(text: string): void;
  openTerminal(cluster: string, context: string, kubeconfigPath: string): Promise<void>;
  confirm(message: string, detail: string): Promise<boolean>;
  quit(): void;
  log(line: string): void;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TrayControllerOptions {
  clock: Clock;
  settings: () => TraySettings;
  timers?: Timers;
  /** switch the agent to another gate (asked for by --server on a later launch) */
  changeServer?: (server: string) => Promise<void>;
}

/**
 * The tray's behaviour without Electron: keeps the icon, tooltip and menu in step with the
 * agent, raises notifications by the rules, opens the tap window when a request is held, and
 * carries out menu actions and launches. It is also the agent's TapPrompt.
 */
export class TrayController implements TapPrompt {
  private status: AgentStatus | undefined;
  private connections: ConnectionInfo[] = [];
  private readonly rules: NotificationRules;
  private readonly timers: Timers;
  private unsubscribe: (() => void) | undefined;
  private wake: unknown;
  private lastMenu = '';
  private lastAppearance = '';
  private tapShownFor: string | undefined;
  /** the user closed the tap window for this request: do not push it back in their face */
  private tapDismissed: string | undefined;
  private disposed = false;

  constructor(
    private readonly agent: AgentSource,
    private readonly ports: TrayPorts,
    private readonly opts: TrayControllerOptions,
  ) {
    this.rules = new NotificationRules(() => opts.settings().notifications);
    this.timers = opts.timers ?? realTimers;
  }

  async onReady(): Promise<void> {
    this.unsubscribe = this.agent.subscribe((p) => {
      if (p.event === 'status') this.onStatus(p.data);
      else if (p.event === 'connections') {
        this.connections = p.data;
        this.refresh();
      } else for (const n of this.rules.onEvent(p.data)) this.raise(n);
    });
    const [status, connections] = await Promise.all([this.agent.status(), this.agent.connections()]);
    this.connections = connections;
    this.onStatus(status);
  }

  dispose(): void {
    this.disposed = true;
    this.unsubscribe?.();
    if (this.wake !== undefined) this.timers.clearTimeout(this.wake);
  }

  // TapPrompt: the agent asks for a tap
  show(p: PendingTap): void {
    this.tapDismissed = undefined;
    this.openTap(p);
  }

  close(_reason: TapPromptCloseReason): void {
    this.tapShownFor = undefined;
    this.ports.closeTapWindow();
  }

  /** The user closed the tap window themselves. */
  tapWindowClosed(): void {
    this.tapDismissed = this.tapShownFor;
    this.tapShownFor = undefined;
  }

  get currentStatus(): AgentStatus | undefined {
    return this.status;
  }

  async handleAction(a: TrayAction): Promise<void> {
    try {
      switch (a.type) {
        case 'verify':
          this.tapDismissed = undefined;
          await this.agent.verifyNow();
          break;
        case 'forget':
          await this.agent.forgetMfa();
          break;
        case 'show-tap': {
          const p = this.status?.pendingTap;
          if (p) {
            this.tapDismissed = undefined;
            this.openTap(p);
          } else this.ports.showStatusWindow('status');
          break;
        }
        case 'cancel-tap':
          await this.agent.cancelTap();
          break;
        case 'copy-context':
          this.ports.copyText(a.context);
          break;
        case 'open-terminal': {
          const c = this.status?.clusters.find((x) => x.name === a.cluster);
          if (!c || !this.status?.kubeconfigPath) throw new Error(`cluster ${a.cluster} has no kubeconfig yet`);
          await this.ports.openTerminal(c.name, c.context, this.status.kubeconfigPath);
          break;
        }
        case 'connections':
          this.ports.showStatusWindow('connections');
          break;
        case 'settings':
          this.ports.showStatusWindow('settings');
          break;
        case 'quit':
          this.ports.quit();
          break;
      }
    } catch (e) {
      this.ports.log(`tray action ${a.type} failed: ${describeError(e)}`);
      this.ports.notify({ kind: 'error', title: 'Tapgate', body: describeError(e) });
    }
  }

  /** A launch: the first one, a second instance's, `tapgate open`, or a deep link. */
  async handleLaunch(r: LaunchRequest): Promise<void> {
    if (r.server && r.source === 'argv' && r.server !== this.opts.settings().server && this.opts.changeServer) {
      const current = this.opts.settings().server;
      const ok = !current || (await this.ports.confirm(`Switch Tapgate to ${r.server}?`, `It is connected to ${current} now. Switching ends the current session; you will log in again.`));
      if (ok) await this.opts.changeServer(r.server);
    }
    switch (r.action) {
      case 'verify':
        return this.handleAction({ type: 'verify' });
      case 'connect': {
        const known = this.status?.clusters.some((c) => c.name === r.cluster);
        if (!known) this.ports.log(`launch asked for cluster ${r.cluster}, which the agent does not serve yet`);
        const state = this.status?.state;
        if (state !== 'verified' && state !== 'lapsing' && state !== 'waiting-for-tap') await this.handleAction({ type: 'verify' });
        else this.ports.showStatusWindow('status');
        return;
      }
      case 'settings':
        return this.ports.showStatusWindow('settings');
      default:
        return this.ports.showStatusWindow('status');
    }
  }

  private onStatus(s: AgentStatus): void {
    this.status = s;
    const now = this.opts.clock.now();
    for (const n of this.rules.onStatus(s, now)) this.raise(n);
    const p = s.state === 'waiting-for-tap' ? s.pendingTap : undefined;
    if (p && p.id !== this.tapShownFor && p.id !== this.tapDismissed) this.openTap(p);
    if (!p && this.tapShownFor) this.close('verified');
    this.refresh();
  }

  private openTap(p: PendingTap): void {
    this.tapShownFor = p.id;
    this.ports.showTapWindow(p);
  }

  private raise(n: Notice): void {
    const click = n.onClick;
    this.ports.notify(n, click ? () => void this.handleAction(click) : undefined);
  }

  /** Recomputes the view; pushes only what changed, then sleeps until the next visible change. */
  private refresh(): void {
    if (this.disposed) return;
    const now = this.opts.clock.now();
    const v = trayView(this.status, this.connections, now);
    const appearance = JSON.stringify([v.icon, v.tooltip, v.title]);
    if (appearance !== this.lastAppearance) {
      this.lastAppearance = appearance;
      this.ports.setAppearance({ icon: v.icon, tooltip: v.tooltip, title: v.title });
    }
    const menu = JSON.stringify(v.menu);
    if (menu !== this.lastMenu) {
      this.lastMenu = menu;
      this.ports.setMenu(v.menu);
    }
    this.schedule(now);
  }

  private schedule(now: number): void {
    if (this.wake !== undefined) this.timers.clearTimeout(this.wake);
    this.wake = undefined;
    const times = [nextViewChangeAt(this.status, now), this.rules.nextCheckAt(this.status, now)].filter((t): t is number => t !== undefined);
    if (!times.length) return;
    const at = Math.min(...times);
    this.wake = this.timers.setTimeout(() => {
      this.wake = undefined;
      if (this.status) for (const n of this.rules.onStatus(this.status, this.opts.clock.now())) this.raise(n);
      this.refresh();
    }, Math.max(0, at - now));
  }
}
