import { TapgateError } from '../core/errors';
import type { AgentSource } from './agent-source';
import type { InvokeApi, InvokeName, SettingsView } from './ipc-channels';
import type { SettingsStore } from './settings-store';

export interface InvokeDeps {
  agent: AgentSource;
  /** absent where settings are not the page's business (a status page over a remote agent) */
  settings?: SettingsStore;
  keyProtected?: () => boolean;
  /** called after settings were saved (start at login, a new server) */
  onSettingsSaved?: (next: SettingsView['settings']) => void | Promise<void>;
  /** opens a URL in the default browser */
  openExternal: (url: string) => Promise<boolean>;
}

/**
 * What windows may ask for, shared by the Electron IPC handlers and the status server's HTTP
 * bridge. Arguments come from a page, so each is checked here.
 */
export function createInvokeApi(d: InvokeDeps): InvokeApi {
  const settingsView = (): SettingsView => {
    if (!d.settings) throw new TapgateError('no_settings', 'settings are managed by the tray app, not this page');
    return { settings: d.settings.get(), keyProtected: d.keyProtected?.() ?? false };
  };
  return {
    status: () => d.agent.status(),
    connections: () => d.agent.connections(),
    events: () => d.agent.events(),
    verifyNow: () => d.agent.verifyNow(),
    forgetMfa: () => d.agent.forgetMfa(),
    cancelTap: () => d.agent.cancelTap(),
    disconnect: (id: unknown) => {
      if (typeof id !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(id)) throw new TapgateError('bad_request', 'disconnect needs a connection id');
      return d.agent.disconnect({ id });
    },
    openTapInBrowser: async () => {
      const s = await d.agent.status();
      const url = s.pendingTap?.tapUrl;
      if (!url) return { opened: false };
      if (!sameOrigin(url, s.server)) throw new TapgateError('bad_tap_url', `the tap page ${url} is not on the gate ${s.server}; not opening it`);
      return { opened: await d.openExternal(url), url };
    },
    settings: async () => settingsView(),
    saveSettings: async (patch: unknown) => {
      if (!d.settings) return settingsView();
      const next = d.settings.update(patch);
      await d.onSettingsSaved?.(next);
      return settingsView();
    },
  } satisfies Record<InvokeName, (...args: never[]) => unknown>;
}

/** Calls a method by name with JSON arguments; unknown names are refused (a page cannot reach anything else). */
export function invokeByName(api: InvokeApi, name: string, args: unknown): Promise<unknown> {
  if (!Object.prototype.hasOwnProperty.call(api, name)) return Promise.reject(new TapgateError('unknown_method', `unknown method ${name.slice(0, 40)}`));
  const list = Array.isArray(args) ? args : [];
  if (list.length > 2) return Promise.reject(new TapgateError('bad_request', 'too many arguments'));
  return Promise.resolve((api[name as InvokeName] as (...a: unknown[]) => unknown)(...list));
}

export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
