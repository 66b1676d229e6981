import type { AgentEvent, AgentStatus, ConnectionInfo } from '../client/agent-types';
import type { TrayPush } from './agent-source';
import type { TraySettings, TraySettingsPatch } from './settings-store';

/**
 * Every IPC channel between the tray's main process and its windows, in one place (Teleport
 * Connect keeps its channel names in one enum file the same way). The status server's HTTP
 * bridge uses the same method names, so a page works the same in Electron and in a browser.
 */
export const InvokeChannel = {
  status: 'tapgate:status',
  connections: 'tapgate:connections',
  events: 'tapgate:events',
  verifyNow: 'tapgate:verify-now',
  forgetMfa: 'tapgate:forget-mfa',
  disconnect: 'tapgate:disconnect',
  cancelTap: 'tapgate:cancel-tap',
  openTapInBrowser: 'tapgate:open-tap-in-browser',
  settings: 'tapgate:settings',
  saveSettings: 'tapgate:save-settings',
} as const;

/** main → renderer: one AgentPush per message. */
export const PushChannel = 'tapgate:push';

export type InvokeName = keyof typeof InvokeChannel;
export const invokeNames = Object.keys(InvokeChannel) as InvokeName[];

export interface SettingsView {
  settings: TraySettings;
  /** false where the OS keychain is missing: the login key then sits on disk unsealed (0600) */
  keyProtected: boolean;
}

/** What a window may ask for. Arguments are plain JSON (they cross IPC or HTTP). */
export interface InvokeApi {
  status(): Promise<AgentStatus>;
  connections(): Promise<ConnectionInfo[]>;
  events(): Promise<AgentEvent[]>;
  verifyNow(): Promise<AgentStatus>;
  forgetMfa(): Promise<AgentStatus>;
  disconnect(id: string): Promise<{ disconnected: boolean }>;
  cancelTap(): Promise<AgentStatus>;
  /** opens the pending tap page in the default browser ("Use my browser instead") */
  openTapInBrowser(): Promise<{ opened: boolean; url?: string }>;
  settings(): Promise<SettingsView>;
  saveSettings(patch: TraySettingsPatch): Promise<SettingsView>;
}

/** The one object the preload exposes as `window.tapgate`. */
export interface TapgateApi extends InvokeApi {
  /** live updates; returns an unsubscribe function */
  subscribe(listener: (push: TrayPush) => void): () => void;
  /** 'electron' in the tray's windows, 'http' on the status page served to a browser */
  readonly kind: 'electron' | 'http';
}
