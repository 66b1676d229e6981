import type { TapgateApi } from '../../src/tray/ipc-channels';
import { httpBridge } from './http-bridge';

declare global {
  interface Window {
    /** set by the Electron preload (contextBridge); absent in a plain browser */
    tapgate?: TapgateApi;
  }
}

/** The tray's windows get the preload's API; a browser gets the status server's HTTP bridge. */
export function getBridge(): TapgateApi {
  return window.tapgate ?? httpBridge();
}
