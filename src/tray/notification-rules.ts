import type { AgentEvent, AgentStatus } from '../client/agent-types';
import type { TraySettings } from './settings-store';
import type { TrayAction } from './tray-model';
import { LAPSE_WARNING_MS } from './tray-model';
import { programName } from './command-line';
import { clockFace, spokenDuration } from './time-format';

/**
 * When the tray raises a desktop notification. Each rule fires once per occasion: the lapse
 * warning once per MFA certificate, "kubectl is waiting" once per tap request, "verified" once
 * per new certificate. Statuses may arrive often and in any rhythm; the rules do not care.
 */
export type NoticeKind = 'lapse-warning' | 'held' | 'verified' | 'locked' | 'login-expired' | 'error';

export interface Notice {
  kind: NoticeKind;
  title: string;
  body: string;
  /** what clicking the notification does */
  onClick?: TrayAction;
}

export class NotificationRules {
  private seen = false;
  private lastMfaExpires: number | undefined;
  private warnedFor: number | undefined;
  private heldNotified: string | undefined;

  constructor(private readonly toggles: () => TraySettings['notifications']) {}

  onStatus(s: AgentStatus, now: number): Notice[] {
    const out: Notice[] = [];
    const t = this.toggles();
    const exp = s.mfaExpires;
    const certValid = exp !== undefined && exp > now && (s.state === 'verified' || s.state === 'lapsing');

    if (certValid && this.seen && exp !== this.lastMfaExpires && (this.lastMfaExpires === undefined || exp > this.lastMfaExpires)) {
      const ttl = s.mfaTtlMs ?? exp - now;
      if (t.verified) out.push({ kind: 'verified', title: `Verified for ${spokenDuration(ttl)}`, body: clusterLine(s) });
    }
    if (certValid && exp - now <= LAPSE_WARNING_MS && this.warnedFor !== exp) {
      this.warnedFor = exp;
      if (t.lapseWarning) out.push({ kind: 'lapse-warning', title: 'Tapgate: MFA lapses in under a minute', body: 'Click to tap your security key and extend it.', onClick: { type: 'verify' } });
    }
    const p = s.state === 'waiting-for-tap' ? s.pendingTap : undefined;
    if (p && p.held.length && this.heldNotified !== p.id) {
      this.heldNotified = p.id;
      const first = p.held[0]!;
      const more = p.held.length > 1 ? ` (+${p.held.length - 1} more)` : '';
      const who = first.process ? `${programName(first.process.command)}: ` : '';
      if (t.held) {
        out.push({
          kind: 'held',
          title: 'kubectl is waiting for your tap',
          body: `${first.cluster}: ${who}${first.summary}${more} · gives up in ${clockFace(p.giveUpAt - now)}`,
          onClick: { type: 'show-tap' },
        });
      }
    }
    if (exp !== undefined && certValid) this.lastMfaExpires = exp;
    this.seen = true;
    return out;
  }

  onEvent(e: AgentEvent): Notice[] {
    const t = this.toggles();
    if (e.kind === 'locked' && t.locked) return [{ kind: 'locked', title: 'Tapgate: access locked', body: e.message, onClick: { type: 'connections' } }];
    if (e.kind === 'login-expired' && t.lapseWarning) return [{ kind: 'login-expired', title: 'Tapgate: login session ended', body: e.message || 'Log in again with tapgate login.' }];
    return [];
  }

  /** When the lapse warning becomes due for the current certificate, so the tray can wake up for it. */
  nextCheckAt(s: AgentStatus | undefined, now: number): number | undefined {
    const exp = s?.mfaExpires;
    if (!s || exp === undefined || exp <= now || this.warnedFor === exp) return undefined;
    return Math.max(now, exp - LAPSE_WARNING_MS);
  }
}

function clusterLine(s: AgentStatus): string {
  return s.clusters.length ? `kubectl can reach ${s.clusters.map((c) => c.name).join(', ')} without another tap until then.` : 'No more taps needed until then.';
}
