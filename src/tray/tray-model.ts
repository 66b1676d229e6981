import type { AgentStatus, ConnectionInfo } from '../client/agent-types';
import { clockFace, coarseDuration } from './time-format';

/**
 * Agent state → what the tray shows: icon, tooltip, macOS title and the whole menu. Pure, so the
 * Electron side only copies it onto a Tray (Linux AppIndicator has no click, so every action
 * lives in the menu).
 */
export type TrayIconState = 'idle' | 'verified' | 'lapsing' | 'waiting' | 'error';

export const LAPSE_WARNING_MS = 60_000;

export type TrayAction =
  | { type: 'verify' }
  | { type: 'forget' }
  | { type: 'show-tap' }
  | { type: 'cancel-tap' }
  | { type: 'copy-context'; context: string }
  | { type: 'open-terminal'; cluster: string }
  | { type: 'connections' }
  | { type: 'settings' }
  | { type: 'quit' };

export type MenuEntry =
  | { kind: 'item'; label: string; enabled: boolean; action?: TrayAction }
  | { kind: 'separator' }
  | { kind: 'submenu'; label: string; enabled: boolean; items: MenuEntry[] };

export interface TrayView {
  icon: TrayIconState;
  tooltip: string;
  /** macOS menu-bar text beside the icon; empty when there is nothing to count down */
  title: string;
  menu: MenuEntry[];
}

const mfaLeft = (s: AgentStatus, now: number): number => (s.mfaExpires ?? 0) - now;

export function iconState(s: AgentStatus | undefined, now: number): TrayIconState {
  if (!s) return 'idle';
  switch (s.state) {
    case 'error':
      return 'error';
    case 'waiting-for-tap':
      return 'waiting';
    case 'verified':
    case 'lapsing': {
      const left = mfaLeft(s, now);
      if (left <= 0) return 'idle';
      return left <= LAPSE_WARNING_MS ? 'lapsing' : 'verified';
    }
    default:
      return 'idle';
  }
}

function statusLine(s: AgentStatus | undefined, state: TrayIconState, now: number): string {
  if (!s) return 'Starting…';
  switch (state) {
    case 'error':
      return `Error: ${oneLine(s.error ?? 'unknown error', 80)}`;
    case 'waiting': {
      const held = s.pendingTap?.held.length ?? 0;
      const what = held ? `${held} request${held > 1 ? 's' : ''} waiting` : 'verification requested';
      return `Tap your security key · ${what}`;
    }
    case 'lapsing':
      return 'MFA lapses in under a minute · tap to extend';
    case 'verified':
      return `Verified · ${coarseDuration(mfaLeft(s, now))} left`;
    default:
      if (!s.user || (s.loginExpires !== undefined && s.loginExpires <= now)) return 'Not logged in · run tapgate login';
      return 'Not verified · next kubectl call asks for a tap';
  }
}

function accountLine(s: AgentStatus | undefined, now: number): string | undefined {
  if (!s?.user) return s?.server ? hostOf(s.server) : undefined;
  const parts = [s.user, hostOf(s.server)];
  if (s.loginExpires !== undefined && s.loginExpires > now) parts.push(`session ends in ${coarseDuration(s.loginExpires - now)}`);
  return parts.filter(Boolean).join(' · ');
}

function tooltip(s: AgentStatus | undefined, state: TrayIconState, now: number): string {
  const clusters = s?.clusters.length ? ` (${s.clusters.map((c) => c.name).join(', ')})` : '';
  let text: string;
  switch (state) {
    case 'verified':
    case 'lapsing':
      text = `Tapgate: verified, ${clockFace(mfaLeft(s!, now))} left${clusters}`;
      break;
    case 'waiting': {
      const p = s!.pendingTap;
      text = `Tapgate: tap your security key${p ? `, gives up in ${clockFace(p.giveUpAt - now)}` : ''}${clusters}`;
      break;
    }
    case 'error':
      text = `Tapgate: ${oneLine(s?.error ?? 'error', 90)}`;
      break;
    default:
      text = s?.user ? `Tapgate: not verified${clusters}` : 'Tapgate: not logged in';
  }
  // Windows truncates tooltips at 127 characters
  return text.length > 127 ? `${text.slice(0, 126)}…` : text;
}

function title(s: AgentStatus | undefined, state: TrayIconState, now: number): string {
  if (state === 'verified' || state === 'lapsing') return clockFace(mfaLeft(s!, now));
  if (state === 'waiting') return 'tap';
  return '';
}

export function trayView(s: AgentStatus | undefined, connections: readonly ConnectionInfo[], now: number): TrayView {
  const state = iconState(s, now);
  const menu: MenuEntry[] = [{ kind: 'item', label: statusLine(s, state, now), enabled: false }];
  const account = accountLine(s, now);
  if (account) menu.push({ kind: 'item', label: account, enabled: false });
  menu.push({ kind: 'separator' });
  if (state === 'waiting') {
    menu.push({ kind: 'item', label: 'Show tap window', enabled: true, action: { type: 'show-tap' } });
    menu.push({ kind: 'item', label: 'Cancel tap request', enabled: true, action: { type: 'cancel-tap' } });
  } else {
    const verified = state === 'verified' || state === 'lapsing';
    menu.push({ kind: 'item', label: verified ? 'Extend now (tap)' : 'Verify now (tap)', enabled: !!s, action: { type: 'verify' } });
  }
  menu.push({ kind: 'item', label: 'Forget MFA now', enabled: state === 'verified' || state === 'lapsing', action: { type: 'forget' } });
  menu.push({ kind: 'separator' });
  const clusters = s?.clusters ?? [];
  menu.push({
    kind: 'submenu',
    label: 'Clusters',
    enabled: clusters.length > 0,
    items: clusters.length
      ? clusters.map((c) => ({
          kind: 'submenu' as const,
          label: c.name,
          enabled: true,
          items: [
            { kind: 'item' as const, label: `Copy context name (${c.context})`, enabled: true, action: { type: 'copy-context' as const, context: c.context } },
            { kind: 'item' as const, label: 'Open terminal with KUBECONFIG set', enabled: !!s?.kubeconfigPath, action: { type: 'open-terminal' as const, cluster: c.name } },
          ],
        }))
      : [{ kind: 'item', label: '(none yet)', enabled: false }],
  });
  const live = connections.filter((c) => c.state === 'active').length;
  menu.push({ kind: 'item', label: live ? `Connections… (${live} live)` : 'Connections…', enabled: true, action: { type: 'connections' } });
  menu.push({ kind: 'item', label: 'Settings…', enabled: true, action: { type: 'settings' } });
  menu.push({ kind: 'separator' });
  menu.push({ kind: 'item', label: 'Quit Tapgate', enabled: true, action: { type: 'quit' } });
  return { icon: state, tooltip: tooltip(s, state, now), title: title(s, state, now), menu };
}

/** When the view next changes on its own (a countdown crossing a boundary), so the tray can sleep until then. */
export function nextViewChangeAt(s: AgentStatus | undefined, now: number): number | undefined {
  if (!s) return undefined;
  const state = iconState(s, now);
  if (state === 'verified' || state === 'lapsing' || state === 'waiting') return now + 1000 - (now % 1000);
  if (s.loginExpires !== undefined && s.loginExpires > now) return now + 60_000 - (now % 60_000);
  return undefined;
}

function hostOf(server: string): string {
  try {
    return new URL(server).host;
  } catch {
    return server;
  }
}

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
